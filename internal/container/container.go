// Package container keeps a node's plain containers — those made through
// POST /containers/create rather than by the swarm — and decides about
// them without doing anything: which container a name or an ID prefix
// means, whether a create request is valid, how an image's config fills in
// a request's, which mounts and host ports a container gets, whether and
// when an exited container restarts, and which containers a listing's
// filters keep. The Store persists the objects under the data root, one
// JSON file each, never through raft; the engine (internal/engine) does the
// I/O with the executor and the network.
package container

import (
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Container is a plain container as the node keeps it.
type Container struct {
	ID      string
	Name    string // without Docker's leading "/"
	Created time.Time
	ImageID string // the image config's digest, as docker shows image IDs
	// Config is the request's, filled in from the image's (FromImage).
	Config containertypes.Config
	// HostConfig is the request's with Docker's defaults filled in.
	HostConfig containertypes.HostConfig
	// NetworkingConfig is the request's endpoints on named networks, kept
	// for the networks that take plain containers (docs/NETWORKING.md,
	// "attachable networks"); nil when none was asked.
	NetworkingConfig *network.NetworkingConfig `json:",omitempty"`

	// What the daemon keeps about the container's runs, across its own
	// restarts.

	// RestartCount is how many times the restart policy restarted it
	// since it was last started by hand.
	RestartCount int
	// ManuallyStopped is set by a stop (or a kill with the stop signal)
	// and cleared by a start: the restart policy leaves it stopped.
	ManuallyStopped bool
	// Ports are the host ports bound while it runs, as docker inspect
	// shows them in NetworkSettings.Ports; nil while it does not run.
	Ports []Binding `json:",omitempty"`
	// NextIfindex counts the interface names (ethN) its namespace was
	// given, as localnet.NextIfname keeps it: dockerd never gives a name
	// twice in one container's namespace.
	NextIfindex int `json:",omitempty"`
	// OnNone is whether it is on network none once docker network
	// connect or disconnect of none changed it; nil until then, while
	// its network mode says (a container run with --network none is
	// on it). dockerd lets a container leave none, to be connected to
	// other networks, and one on no network join it.
	OnNone *bool `json:",omitempty"`
}

// Ref names a container of the node, plain or a swarm task's.
type Ref struct {
	ID   string
	Name string // without the leading "/"
}
