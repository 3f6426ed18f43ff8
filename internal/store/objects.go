package store

import (
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// The stored objects are the Docker Engine API types, with the few fields
// only Shoal needs beside them (DESIGN.md: one model). Serve the embedded
// API value, never the wrapper.

// Cluster is the swarm itself: spec, join tokens and the CA's key material.
type Cluster struct {
	swarm.Swarm
	// RootCACert and RootCAKey are PEM; RootCAKey is nil when the root is
	// external and its key is not held by the cluster.
	RootCACert []byte `json:",omitempty"`
	RootCAKey  []byte `json:",omitempty"`
	// RootRotation is the root the cluster is moving to while its nodes
	// get certificates from it; nil when no rotation is under way.
	RootRotation *RootRotation `json:",omitempty"`
	// UnlockKey is the key-encryption key of autolocked managers, empty
	// when autolock is off.
	UnlockKey string `json:",omitempty"`
	// RemovedNodes are the IDs of nodes removed from the swarm, newest
	// last and bounded (MaxRemovedNodes): their certificates stay valid
	// until they expire, so the managers refuse them by ID.
	RemovedNodes []string `json:",omitempty"`
}

// RootRotation is a root CA rotation under way (swarm ca --rotate).
type RootRotation struct {
	// CACert and CAKey are the new root, PEM.
	CACert []byte
	CAKey  []byte `json:",omitempty"`
	// CrossSignedCACert is the new root's certificate signed by the old
	// root: certificates the new root issues carry it, so nodes that still
	// trust only the old root accept them.
	CrossSignedCACert []byte
}

// MaxRemovedNodes bounds Cluster.RemovedNodes; the oldest IDs go first.
const MaxRemovedNodes = 1000

// Node is a member of the cluster.
type Node struct {
	swarm.Node
	// DataPathAddr is the address other nodes send this node's overlay
	// traffic to (swarm init/join --data-path-addr); empty means
	// Status.Addr.
	DataPathAddr string `json:",omitempty"`
	// NetworkAttachments are the node's own addresses on networks: its
	// routing mesh address on the ingress network (SwarmKit's
	// Node.Attachments).
	NetworkAttachments []swarm.NetworkAttachment `json:",omitempty"`
	// Tunnel is the node's identity on the WireGuard mesh that carries
	// encrypted overlays: its public key, sent by its agent, and its
	// tunnel address, given by the allocator. Nil until the agent sent a
	// key.
	Tunnel *Tunnel `json:",omitempty"`
}

// Tunnel is a node's WireGuard identity.
type Tunnel struct {
	PublicKey string
	Addr      netip.Addr `json:",omitzero"` // the node's address inside the tunnel; invalid until allocated
}

// Service is a service with the count of changes made to its spec.
type Service struct {
	swarm.Service
	// SpecVersion grows by one each time Spec changes; tasks record the
	// value their spec was made from, which answers "is this task up to
	// date" without comparing specs.
	SpecVersion uint64 `json:",omitempty"`
	// Rebalance is a rebalance asked with shoal service rebalance (Shoal's
	// own, not Docker's), nil when none was.
	Rebalance *RebalanceStatus `json:",omitempty"`
	// Canary is the service's canary or blue/green deployment (Shoal's
	// own, not Docker's), nil when it never had one.
	Canary *Canary `json:",omitempty"`
	// RegistryAuth is the X-Registry-Auth the service was created or last
	// updated with (docker service create --with-registry-auth), which
	// its tasks pull with; SwarmKit's PullOptions.RegistryAuth. The store
	// is encrypted at rest; the API never shows it.
	RegistryAuth string `json:",omitempty"`
}

// RebalanceStatus is the progress of moving a service's tasks so that they
// spread over the nodes that can run them as the scheduler would spread
// them now.
type RebalanceStatus struct {
	State       RebalanceState
	StartedAt   time.Time
	CompletedAt time.Time `json:",omitempty"`
	Moved       int       // tasks replaced on another node so far
	Message     string    `json:",omitempty"`
}

// RebalanceState is where a rebalance is.
type RebalanceState string

// Rebalance states.
const (
	RebalanceActive    RebalanceState = "rebalancing"
	RebalanceCompleted RebalanceState = "completed"
)

// Task is one scheduled instance of a service.
type Task struct {
	swarm.Task
	// SpecVersion is the service's SpecVersion this task was made from.
	SpecVersion uint64 `json:",omitempty"`
	// Endpoint is the service's endpoint as it was when the task's
	// addresses were allocated (SwarmKit's Task.Endpoint): the node reads
	// its host-mode ports from it, and a service whose endpoint spec
	// changed since has tasks to update.
	Endpoint *swarm.Endpoint `json:",omitempty"`
	// RegistryAuth is its service's RegistryAuth when the task was made:
	// the credentials the node that runs it pulls the image with.
	RegistryAuth string `json:",omitempty"`
}

// Secret is a secret with its data. The store is encrypted at rest with
// the raft data key; the API never shows Spec.Data.
type Secret struct {
	swarm.Secret
}

// Config is a config with its data.
type Config struct {
	swarm.Config
}

// Network is a swarm-scoped network: its spec, and what the leader's
// allocator gave it (IPAMOptions.Configs with the subnet and gateway in
// use, DriverState.Options with the VXLAN ID, as SwarmKit records them).
type Network struct {
	swarm.Network
}

// Object is any stored object.
type Object interface {
	*Cluster | *Node | *Service | *Task | *Secret | *Config | *Network
	object
}

type object interface {
	table() string
	objectID() string
	meta() *swarm.Meta
}

func (*Cluster) table() string       { return tableCluster }
func (c *Cluster) objectID() string  { return c.ID }
func (c *Cluster) meta() *swarm.Meta { return &c.Meta }
func (*Node) table() string          { return tableNode }
func (n *Node) objectID() string     { return n.ID }
func (n *Node) meta() *swarm.Meta    { return &n.Meta }
func (*Service) table() string       { return tableService }
func (s *Service) objectID() string  { return s.ID }
func (s *Service) meta() *swarm.Meta { return &s.Meta }
func (*Task) table() string          { return tableTask }
func (t *Task) objectID() string     { return t.ID }
func (t *Task) meta() *swarm.Meta    { return &t.Meta }
func (*Secret) table() string        { return tableSecret }
func (s *Secret) objectID() string   { return s.ID }
func (s *Secret) meta() *swarm.Meta  { return &s.Meta }
func (*Config) table() string        { return tableConfig }
func (c *Config) objectID() string   { return c.ID }
func (c *Config) meta() *swarm.Meta  { return &c.Meta }
func (*Network) table() string       { return tableNetwork }
func (n *Network) objectID() string  { return n.ID }
func (n *Network) meta() *swarm.Meta { return &n.Meta }

const (
	tableCluster = "cluster"
	tableNode    = "node"
	tableService = "service"
	tableTask    = "task"
	tableSecret  = "secret"
	tableConfig  = "config"
	tableNetwork = "network"
)

// newObject returns an empty object of a table, for decoding.
func newObject(table string) object {
	switch table {
	case tableCluster:
		return new(Cluster)
	case tableNode:
		return new(Node)
	case tableService:
		return new(Service)
	case tableTask:
		return new(Task)
	case tableSecret:
		return new(Secret)
	case tableConfig:
		return new(Config)
	case tableNetwork:
		return new(Network)
	}
	return nil
}
