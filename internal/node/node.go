// Package node is a Shoal node's swarm membership: it initialises, joins
// and leaves swarms, and runs the parts a member needs — the manager
// (raft, store, controllers, dispatcher, control API) on managers, and the
// agent that runs this node's tasks on every member. Its methods back the
// /swarm endpoints.
package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/store"
)

// Config configures a node.
type Config struct {
	DataRoot string // the node keeps its swarm state in DataRoot/swarm
	Engine   *engine.Engine
	Logger   *slog.Logger
}

// Node is this daemon's membership in a swarm, or the lack of one.
type Node struct {
	cfg Config
	dir string
	log *slog.Logger
	// keys is the node's TLS material, nil when not in a swarm. Atomic
	// rather than under mu: dialers read it from their own goroutines
	// while mu is held to stop them.
	keys atomic.Pointer[nodeKeys]

	// api is the daemon's Docker API handler, set once with SetAPI before
	// Run; the leader answers writes forwarded by followers with it.
	api http.Handler

	mu      sync.Mutex
	ctx     context.Context // the daemon's; set by Run, guarded by mu
	mem     *membership     // nil when not in a swarm; guarded by mu
	mgr     *manager        // nil unless this node is a manager; guarded by mu
	agent   *runningAgent   // nil when not in a swarm; guarded by mu
	started chan struct{}   // closed when Run has restored membership
}

// New returns a node; Run brings back its membership.
func New(cfg Config) *Node {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Node{cfg: cfg, dir: filepath.Join(cfg.DataRoot, "swarm"), log: cfg.Logger, started: make(chan struct{})}
}

// SetAPI gives the node the daemon's API handler.
func (n *Node) SetAPI(h http.Handler) { n.api = h }

// Run restores the swarm membership this node had before a restart, then
// serves until ctx ends, and stops the manager and agent.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	n.ctx = ctx
	mem, err := loadMembership(n.dir)
	if err == nil && mem != nil {
		err = n.resume(ctx, mem)
	}
	n.mu.Unlock()
	close(n.started)
	if err != nil {
		return fmt.Errorf("rejoin swarm: %w", err)
	}
	<-ctx.Done()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopLocked()
	return nil
}

func (n *Node) resume(ctx context.Context, mem *membership) error {
	keys, err := loadKeys(n.keyStore())
	if err != nil {
		return err
	}
	n.mem = mem
	n.keys.Store(keys)
	if mem.Role == "manager" {
		mgr, err := startManager(ctx, n.managerConfig(false))
		if err != nil {
			return err
		}
		n.mgr = mgr
	}
	n.agent = n.startAgent(ctx)
	return nil
}

func (n *Node) keyStore() ca.KeyStore { return ca.KeyStore{Dir: filepath.Join(n.dir, "certificates")} }

func (n *Node) stopLocked() {
	if n.agent != nil {
		n.agent.stop()
		n.agent = nil
	}
	if n.mgr != nil {
		n.mgr.stop()
		n.mgr = nil
	}
}

func (n *Node) waitStarted(ctx context.Context) error {
	select {
	case <-n.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errAlreadyInSwarm = errdefs.Unavailable(`This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`)

// Init creates a new swarm with this node as its only manager and leader.
func (n *Node) Init(ctx context.Context, req swarm.InitRequest) (string, error) {
	if err := n.waitStarted(ctx); err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mem != nil {
		return "", errAlreadyInSwarm
	}
	if n.ctx == nil {
		return "", errdefs.Unavailable("the daemon is not running")
	}
	listen, advertise, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr, hostAddrs(n.cfg.Engine.Network.Name()))
	if err != nil {
		return "", err
	}
	spec, err := initSpec(req.Spec)
	if err != nil {
		return "", err
	}
	root, err := rootFor(spec.CAConfig)
	if err != nil {
		return "", err
	}
	mem := &membership{
		NodeID:        identity.NewID(),
		ClusterID:     identity.NewID(),
		Role:          "manager",
		ListenAddr:    listen,
		AdvertiseAddr: advertise,
		DataPathAddr:  req.DataPathAddr,
		Managers:      []string{advertise},
	}
	keys, err := issueKeys(root, mem.NodeID, ca.ManagerRole, mem.ClusterID, certExpiry(spec))
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(n.dir); err != nil {
		return "", err
	}
	if err := keys.save(n.keyStore()); err != nil {
		return "", err
	}
	n.keys.Store(keys)
	cfg := n.managerConfig(true)
	cfg.mem = mem
	mgr, err := startManager(n.ctx, cfg)
	if err != nil {
		os.RemoveAll(n.dir)
		return "", err
	}
	desc, err := n.cfg.Engine.Executor.Describe(ctx)
	if err != nil {
		mgr.stop()
		os.RemoveAll(n.dir)
		return "", err
	}
	availability := req.Availability
	if availability == "" {
		availability = swarm.NodeAvailabilityActive
	}
	if err := mgr.store.Update(ctx, func(tx *store.WriteTx) error {
		if err := tx.Put(newCluster(mem.ClusterID, spec, root)); err != nil {
			return err
		}
		return tx.Put(newManagerNode(mem.NodeID, advertise, availability, desc))
	}); err != nil {
		mgr.stop()
		os.RemoveAll(n.dir)
		return "", err
	}
	if err := saveMembership(n.dir, mem); err != nil {
		mgr.stop()
		os.RemoveAll(n.dir)
		return "", err
	}
	n.mem, n.mgr = mem, mgr
	n.agent = n.startAgent(n.ctx)
	n.log.Info("swarm initialised", "node.id", mem.NodeID, "cluster.id", mem.ClusterID, "advertise", advertise)
	return mem.NodeID, nil
}

// Leave takes this node out of its swarm: it stops the agent and the
// manager, removes the task containers and forgets the swarm's state.
func (n *Node) Leave(ctx context.Context, force bool) error {
	if err := n.waitStarted(ctx); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mem == nil {
		return errdefs.Unavailable("This node is not part of a swarm")
	}
	if n.mem.Role == "manager" && !force {
		return errdefs.Unavailable("You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
	}
	n.stopLocked()
	if err := n.removeTaskContainers(ctx); err != nil {
		n.log.Warn("remove task containers on leave", "err", err)
	}
	if err := os.RemoveAll(n.dir); err != nil {
		return err
	}
	n.mem = nil
	n.keys.Store(nil)
	return nil
}

func (n *Node) removeTaskContainers(ctx context.Context) error {
	list, err := n.cfg.Engine.Executor.List(ctx, true, map[string][]string{"label": {"com.docker.swarm.task.id"}})
	if err != nil {
		return err
	}
	for _, c := range list {
		if err := n.cfg.Engine.Executor.Remove(ctx, c.ID, true); err != nil {
			return err
		}
	}
	return nil
}

// Control returns the control API when this node is a manager.
func (n *Node) Control() (*controlapi.API, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.mem == nil:
		return nil, errNotManager
	case n.mgr == nil:
		return nil, errdefs.Unavailable(`This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.`)
	}
	return n.mgr.control, nil
}

var errNotManager = errdefs.Unavailable(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)

// Info answers the Swarm section of GET /info.
func (n *Node) Info(ctx context.Context) swarm.Info {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mem == nil {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	info := swarm.Info{
		NodeID:         n.mem.NodeID,
		NodeAddr:       hostOf(n.mem.AdvertiseAddr),
		LocalNodeState: swarm.LocalNodeStateActive,
	}
	if n.mgr == nil {
		for _, m := range n.mem.Managers {
			info.RemoteManagers = append(info.RemoteManagers, swarm.Peer{Addr: m})
		}
		return info
	}
	info.ControlAvailable = true
	n.mgr.store.View(func(tx store.ReadTx) {
		nodes := store.All[*store.Node](tx)
		info.Nodes = len(nodes)
		for _, nd := range nodes {
			if nd.ManagerStatus != nil {
				info.Managers++
				info.RemoteManagers = append(info.RemoteManagers, swarm.Peer{NodeID: nd.ID, Addr: nd.ManagerStatus.Addr})
			}
		}
		if c := store.TheCluster(tx); c != nil {
			ci := c.ClusterInfo
			info.Cluster = &ci
		}
	})
	return info
}

// tlsFor returns the node's current client TLS config for proto.
func (n *Node) tlsFor(proto string) func() *tls.Config {
	return func() *tls.Config {
		k := n.keys.Load()
		if k == nil {
			return nil
		}
		return clusterconn.ClientTLS(k.root, &k.cert, proto)
	}
}

const stopTimeout = 10 * time.Second

// Unlock unlocks an autolocked manager after a restart.
func (n *Node) Unlock(ctx context.Context, key string) error {
	return errdefs.Conflict("swarm is not locked")
}
