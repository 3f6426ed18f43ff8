// Package imagepeer moves images between the nodes of a swarm without a
// registry: every node serves the blobs of the images it holds over the
// cluster port (Server), each tells the managers which images it holds
// (Announcer), the managers keep who holds what (Index), and a node that
// lacks a task's image asks a manager for its holders and fetches it from
// one of them at random, managers last (Client), verifying every blob by
// its digest. A node that fetched an image holds it and serves it on.
// See docs/IMAGES-PEER.md.
package imagepeer

import (
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/images"
)

// Full method names, as a ca.Policy names them. MethodFetch is no gRPC
// method: it is the name under which the policy says who may fetch blobs
// (ServeBlobs).
const (
	MethodResolve  = "/shoal.ImagePeer/Resolve"
	MethodFetch    = "/shoal.ImagePeer/Fetch"
	MethodAnnounce = "/shoal.ImageIndex/Announce"
	MethodHolders  = "/shoal.ImageIndex/Holders"
)

// Policy says who may call the image services: any node of the swarm,
// worker or manager, may fetch from any other and tell the managers what
// it holds. Merge it into the cluster port's policy.
func Policy() ca.Policy {
	nodes := []ca.Role{ca.WorkerRole, ca.ManagerRole}
	return ca.Policy{
		MethodResolve:  nodes,
		MethodFetch:    nodes,
		MethodAnnounce: nodes,
		MethodHolders:  nodes,
	}
}

// PeerPolicy is Policy without the managers' index: what a worker's
// cluster port serves.
func PeerPolicy() ca.Policy {
	nodes := []ca.Role{ca.WorkerRole, ca.ManagerRole}
	return ca.Policy{MethodResolve: nodes, MethodFetch: nodes}
}

// ResolveRequest asks a node for the descriptor of an image it holds whole.
type ResolveRequest struct{ Digest digest.Digest }

// FetchRequest asks for a blob's bytes from Offset on (a resumed fetch).
type FetchRequest struct {
	Digest digest.Digest
	Offset int64
}

// AnnounceRequest is everything a node holds now; it replaces what the
// node announced before. Who the node is comes from its certificate.
type AnnounceRequest struct {
	Addr   string // the node's cluster address, where it serves
	Images []images.Held
}

// AnnounceResponse says when to announce again at the latest.
type AnnounceResponse struct{ Period time.Duration }

// HoldersRequest asks who holds an image, by digest or, for a reference
// not pinned to one, by name (docker.io/library/app:v1).
type HoldersRequest struct {
	Digest digest.Digest `json:",omitempty"`
	Name   string        `json:",omitempty"`
}

// HoldersResponse is the image's digest and the nodes that hold it.
type HoldersResponse struct {
	Digest  digest.Digest
	Holders []Holder
}

// Holder is a node that holds an image.
type Holder struct {
	NodeID  string
	Addr    string
	Manager bool
}

// descriptor is the part of a peer's answer that is kept: never its
// embedded data or URLs, which the peer could use to smuggle content past
// the digest check.
func descriptor(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}
