// Package node is a Shoal node's swarm membership: it initialises, joins
// and leaves swarms, follows the role the managers give it (promotion,
// demotion, removal), locks and unlocks an autolocked manager, and runs
// the parts a member needs — the manager (raft, store, controllers,
// dispatcher, control API) on managers, and the agent that runs this
// node's tasks on every member. Its methods back the /swarm endpoints.
//
// Autolock: a manager's secrets at rest are its TLS key and its raft data.
// The raft data (log entries' data and snapshots) is always encrypted with
// a data-encryption key (DEK, see consensus) kept in swarm/raft-dek.pem.
// When the swarm's spec turns autolock on, every manager seals both the
// DEK file and its TLS key with a key-encryption key derived from the
// cluster's unlock key (AES-256-GCM), and unseals them when autolock is
// turned off; rotating the unlock key only re-seals these two small files.
// After a restart, a manager whose files are sealed is locked: it runs
// nothing and answers only /info and /swarm/unlock until it is given the
// key.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/events"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/store"
)

// Config configures a node.
type Config struct {
	DataRoot string // the node keeps its swarm state in DataRoot/swarm
	Engine   *engine.Engine
	Logger   *slog.Logger
	// Events, when set, gets the swarm events of the store while this
	// node is a manager.
	Events *events.Bus
}

// Node is this daemon's membership in a swarm, or the lack of one.
type Node struct {
	cfg Config
	dir string
	log *slog.Logger
	// exec runs this node's tasks; removeTasks deletes their containers
	// when the node leaves; hostAddrs lists the addresses it could
	// advertise. They are the engine's, or a test's.
	exec        executor.Executor
	removeTasks func(ctx context.Context) error
	hostAddrs   func() ([]netip.Addr, error)
	// keys is the node's TLS material, nil when not in a swarm. Atomic
	// rather than under mu: dialers read it from their own goroutines
	// while mu is held to stop them.
	keys atomic.Pointer[nodeKeys]

	// api is the daemon's Docker API handler, set once with SetAPI before
	// Run; the leader answers writes forwarded by followers with it.
	api http.Handler

	// op serialises what changes the membership: init, join, leave,
	// unlock, role changes, removal, re-sealing the keys. A channel rather
	// than a mutex, so that a role change waiting for it can give up.
	op chan struct{}
	// kek is the key-encryption key the node's secrets are sealed with,
	// nil when they are not; guarded by op.
	kek []byte

	mu      sync.Mutex
	ctx     context.Context // the daemon's; set by Run, guarded by mu
	mem     *membership     // nil when not in a swarm; guarded by mu
	mgr     *manager        // nil unless this node runs a manager; guarded by mu
	agent   *runningAgent   // nil when not in a swarm or locked; guarded by mu
	locked  bool            // a manager whose secrets are sealed, waiting for its unlock key; guarded by mu
	started chan struct{}   // closed when Run has restored membership
}

// New returns a node; Run brings back its membership.
func New(cfg Config) *Node {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, dir: filepath.Join(cfg.DataRoot, "swarm"), log: cfg.Logger, op: make(chan struct{}, 1), started: make(chan struct{})}
	if e := cfg.Engine; e != nil {
		n.exec = e.Executor
		n.removeTasks = func(ctx context.Context) error { return removeTaskContainers(ctx, e) }
		n.hostAddrs = hostAddrs(e.Network.Name())
	}
	return n
}

// SetAPI gives the node the daemon's API handler; call it before Run, so a
// resumed manager serves forwarded writes from its first moment.
func (n *Node) SetAPI(h http.Handler) { n.api = h }

// lockOp takes the membership lock, or gives up when ctx ends.
func (n *Node) lockOp(ctx context.Context) error {
	select {
	case n.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) unlockOp() { <-n.op }

// Run restores the swarm membership this node had before a restart, then
// serves until ctx ends, and stops the manager and agent.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	n.ctx = ctx
	n.mu.Unlock()
	n.op <- struct{}{}
	mem, err := loadMembership(n.dir)
	if err == nil && mem != nil {
		err = n.resume(ctx, mem)
	}
	n.unlockOp()
	close(n.started)
	if err != nil {
		return fmt.Errorf("rejoin swarm: %w", err)
	}
	<-ctx.Done()
	n.op <- struct{}{}
	defer n.unlockOp()
	n.stopParts()
	return nil
}

// resume starts what mem says this node runs. A manager whose secrets are
// sealed stays locked until Unlock.
func (n *Node) resume(ctx context.Context, mem *membership) error {
	keys, err := loadKeys(n.keyStore(nil))
	var dek []byte
	if err == nil && mem.Role == "manager" {
		dek, err = loadDEK(n.dir, nil)
	}
	if mem.Role == "manager" && errdefs.Is(err, errdefs.KindUnavailable) {
		n.setState(mem, nil, nil, true)
		n.log.Info("swarm manager is locked: unlock it with docker swarm unlock", "node.id", mem.NodeID)
		return nil
	}
	if err != nil {
		return err
	}
	n.keys.Store(keys)
	var mgr *manager
	if mem.Role == "manager" {
		// A manager comes back without waiting for a leader: with the
		// quorum lost it still serves reads and `swarm init
		// --force-new-cluster`.
		if mgr, err = n.startManager(ctx, n.managerConfig(mem, dek)); err != nil {
			return err
		}
	}
	n.setState(mem, mgr, n.startAgent(ctx, mem), false)
	return nil
}

// setState publishes what the node is now, under mu.
func (n *Node) setState(mem *membership, mgr *manager, a *runningAgent, locked bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mem, n.mgr, n.agent, n.locked = mem, mgr, a, locked
}

// snapshot reads what the node is now.
func (n *Node) snapshot() (mem *membership, mgr *manager, a *runningAgent, locked bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mem, n.mgr, n.agent, n.locked
}

func (n *Node) keyStore(kek []byte) ca.KeyStore {
	return ca.KeyStore{Dir: filepath.Join(n.dir, "certificates"), KEK: kek}
}

// stopParts stops the agent and the manager; their state stays on disk.
// The caller holds op.
func (n *Node) stopParts() {
	mem, mgr, a, locked := n.snapshot()
	if a != nil {
		a.stop()
	}
	if mgr != nil {
		mgr.stop()
	}
	n.setState(mem, nil, nil, locked)
}

func (n *Node) waitStarted(ctx context.Context) error {
	select {
	case <-n.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// daemonCtx is the context the node's parts run under.
func (n *Node) daemonCtx() (context.Context, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx == nil {
		return nil, errdefs.Unavailable("the daemon is not running")
	}
	return n.ctx, nil
}

var (
	errAlreadyInSwarm = errdefs.Unavailable(`This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`)
	errLocked         = errdefs.Unavailable(`Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.`)
)

// Init creates a new swarm with this node as its only manager and leader.
// With ForceNewCluster on a manager of an existing swarm, it makes this
// manager the only member of its raft group instead, keeping the swarm's
// state (see forceNewCluster).
func (n *Node) Init(ctx context.Context, req swarm.InitRequest) (string, error) {
	if err := n.waitStarted(ctx); err != nil {
		return "", err
	}
	if err := n.lockOp(ctx); err != nil {
		return "", err
	}
	defer n.unlockOp()
	mem, _, _, locked := n.snapshot()
	switch {
	case locked:
		return "", errLocked
	case mem != nil && req.ForceNewCluster:
		return mem.NodeID, n.forceNewCluster(ctx)
	case mem != nil:
		return "", errAlreadyInSwarm
	}
	dctx, err := n.daemonCtx()
	if err != nil {
		return "", err
	}
	listen, advertise, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr, n.hostAddrs)
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
	pools, subnetSize, dataPathPort, err := addrPool(req)
	if err != nil {
		return "", err
	}
	dataPath, err := dataPathAddr(req.DataPathAddr)
	if err != nil {
		return "", err
	}
	mem = &membership{
		NodeID:        identity.NewID(),
		ClusterID:     identity.NewID(),
		Role:          "manager",
		ListenAddr:    listen,
		AdvertiseAddr: advertise,
		DataPathAddr:  dataPath,
		Managers:      []string{advertise},
	}
	cluster := newCluster(mem.ClusterID, spec, root, pools, subnetSize, dataPathPort)
	ingress, err := controlapi.IngressNetwork(cluster)
	if err != nil {
		return "", err
	}
	keys, desc, dek, err := n.prepareManager(ctx, cluster, mem.NodeID)
	if err != nil {
		return "", err
	}
	fail := n.discardManager
	n.keys.Store(keys)
	cfg := n.managerConfig(mem, dek)
	cfg.bootstrap = true
	mgr, err := n.startManager(dctx, cfg)
	if err != nil {
		return fail(err)
	}
	availability := req.Availability
	if availability == "" {
		availability = swarm.NodeAvailabilityActive
	}
	if spec.EncryptionConfig.AutoLockManagers {
		cluster.UnlockKey = controlapi.NewUnlockKey()
	}
	if err := mgr.store.Update(ctx, func(tx *store.WriteTx) error {
		if err := tx.Put(cluster); err != nil {
			return err
		}
		if err := tx.Put(ingress); err != nil {
			return err
		}
		return tx.Put(newManagerNode(mem.NodeID, advertise, dataPath, availability, desc))
	}); err != nil {
		mgr.stop()
		return fail(err)
	}
	if err := saveMembership(n.dir, mem); err != nil {
		mgr.stop()
		return fail(err)
	}
	a := n.startAgent(dctx, mem)
	n.setState(mem, mgr, a, false)
	n.settle(ctx, mem, mgr, a)
	n.log.Info("swarm initialised", "node.id", mem.NodeID, "cluster.id", mem.ClusterID, "advertise", advertise)
	return mem.NodeID, nil
}

// prepareManager makes a fresh data directory for a new manager of c:
// its keys, issued by c's CA and saved, and a new raft data key; and the
// node's description with its TLS information. Nothing of it is left on
// an error.
func (n *Node) prepareManager(ctx context.Context, c *store.Cluster, nodeID string) (*nodeKeys, *swarm.NodeDescription, []byte, error) {
	keys, err := issueKeys(ctx, c, nodeID, ca.ManagerRole, n.log)
	if err != nil {
		return nil, nil, nil, err
	}
	desc, err := n.exec.Describe(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	desc.TLSInfo = keys.tlsInfo()
	if err := os.RemoveAll(n.dir); err != nil {
		return nil, nil, nil, err
	}
	if err := keys.save(n.keyStore(nil)); err != nil {
		os.RemoveAll(n.dir)
		return nil, nil, nil, err
	}
	dek, err := newDEK(n.dir)
	if err != nil {
		os.RemoveAll(n.dir)
		return nil, nil, nil, err
	}
	return keys, desc, dek, nil
}

// discardManager forgets what prepareManager made, for a start of a new
// manager that failed after it.
func (n *Node) discardManager(err error) (string, error) {
	os.RemoveAll(n.dir)
	n.keys.Store(nil)
	return "", err
}

// Leave takes this node out of its swarm: a manager first asks the leader
// to take it out of raft (with force; a manager that cannot reach one
// leaves anyway), a worker tells the managers so they mark it down at
// once; then it stops the agent and the manager, removes the task
// containers and forgets the swarm's state.
func (n *Node) Leave(ctx context.Context, force bool) error {
	if err := n.waitStarted(ctx); err != nil {
		return err
	}
	if err := n.lockOp(ctx); err != nil {
		return err
	}
	defer n.unlockOp()
	mem, mgr, a, locked := n.snapshot()
	if mem == nil {
		return errdefs.Unavailable("This node is not part of a swarm")
	}
	if mem.Role == "manager" && !force {
		return errdefs.Unavailable("You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
	}
	if !locked && !(mgr != nil && mgr.onlyMember(mem.NodeID)) {
		// The agent goes first: a session still open could mark the node
		// ready again after the managers marked it down.
		managers := n.managerAddrs(mem, a)
		if a != nil {
			a.stop()
		}
		wait := 5 * time.Second
		if mgr != nil {
			wait = 20 * time.Second
		}
		lctx, cancel := context.WithTimeout(ctx, wait)
		err := n.leaveRaft(lctx, managers, true)
		cancel()
		if err != nil {
			n.log.Warn("leaving without the managers' acknowledgement", "err", err)
		}
	}
	return n.forget(ctx)
}

// forget stops what runs, removes the task containers and the swarm's
// state: the node is in no swarm after it. The caller holds op.
func (n *Node) forget(ctx context.Context) error {
	n.stopParts()
	if err := n.removeTasks(ctx); err != nil {
		n.log.Warn("remove task containers on leave", "err", err)
	}
	err := os.RemoveAll(n.dir)
	n.setState(nil, nil, nil, false)
	n.keys.Store(nil)
	n.kek = nil
	return err
}

func removeTaskContainers(ctx context.Context, e *engine.Engine) error {
	list, err := e.Executor.List(ctx, true, map[string][]string{"label": {"com.docker.swarm.task.id"}})
	if err != nil {
		return err
	}
	for _, c := range list {
		if err := e.Executor.Remove(ctx, c.ID, true); err != nil {
			return err
		}
	}
	return nil
}

// Control returns the control API when this node is a manager.
func (n *Node) Control() (*controlapi.API, error) {
	mem, mgr, _, locked := n.snapshot()
	switch {
	case locked:
		return nil, errLocked
	case mem == nil:
		return nil, errNotManager
	case mgr == nil:
		return nil, errdefs.Unavailable(`This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.`)
	}
	return mgr.control, nil
}

// Manager returns this node's manager store and whether it leads the
// raft group; a nil store when it is not a manager (for metrics).
func (n *Node) Manager() (*store.Store, bool) {
	_, mgr, _, locked := n.snapshot()
	if mgr == nil || locked {
		return nil, false
	}
	return mgr.store, mgr.raft.IsLeader()
}

var errNotManager = errdefs.Unavailable(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)

// Info answers the Swarm section of GET /info.
func (n *Node) Info(ctx context.Context) swarm.Info {
	mem, mgr, a, locked := n.snapshot()
	if mem == nil {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	info := swarm.Info{
		NodeID:         mem.NodeID,
		NodeAddr:       hostOf(mem.AdvertiseAddr),
		LocalNodeState: swarm.LocalNodeStateActive,
	}
	if locked {
		info.LocalNodeState = swarm.LocalNodeStateLocked
		return info
	}
	if mgr == nil {
		for _, m := range n.managerAddrs(mem, a) {
			info.RemoteManagers = append(info.RemoteManagers, swarm.Peer{Addr: m})
		}
		return info
	}
	info.ControlAvailable = true
	mgr.store.View(func(tx store.ReadTx) {
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

// managerAddrs are the managers this node knows: those it remembers,
// those its agent heard of last and, on a manager, those of its store.
func (n *Node) managerAddrs(mem *membership, a *runningAgent) []string {
	out := slices.Clone(mem.Managers)
	if a != nil {
		out = append(out, a.agent.Managers()...)
	}
	if _, mgr, _, _ := n.snapshot(); mgr != nil {
		mgr.store.View(func(tx store.ReadTx) {
			for _, nd := range store.All[*store.Node](tx) {
				if nd.ManagerStatus != nil && nd.ManagerStatus.Addr != "" {
					out = append(out, nd.ManagerStatus.Addr)
				}
			}
		})
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// tlsFor returns the node's current client TLS config for proto.
func (n *Node) tlsFor(proto string) func() *tls.Config {
	return func() *tls.Config {
		k := n.keys.Load()
		if k == nil {
			return nil
		}
		return clusterconn.ClientTLS(k.trust, &k.cert, proto)
	}
}

// currentCert is the node's certificate now, or nil before it has one.
func (n *Node) currentCert() *tls.Certificate {
	k := n.keys.Load()
	if k == nil {
		return nil
	}
	return &k.cert
}

// errInvalidUnlockKey is dockerd's answer to a well-formed but wrong
// unlock key (401); a malformed key is a 400.
var errInvalidUnlockKey = errdefs.Unauthorized("swarm could not be unlocked: invalid key provided")

// Unlock unlocks a locked manager with the swarm's unlock key and starts
// it.
func (n *Node) Unlock(ctx context.Context, key string) error {
	if err := n.waitStarted(ctx); err != nil {
		return err
	}
	if err := n.lockOp(ctx); err != nil {
		return err
	}
	defer n.unlockOp()
	mem, _, _, locked := n.snapshot()
	if !locked {
		return errdefs.Conflict("swarm is not locked")
	}
	kek, err := controlapi.ParseUnlockKey(key)
	if err != nil {
		return err
	}
	keys, err := loadKeys(n.keyStore(kek))
	if err != nil {
		return unlockError(err)
	}
	dek, err := loadDEK(n.dir, kek)
	if err != nil {
		return unlockError(err)
	}
	dctx, err := n.daemonCtx()
	if err != nil {
		return err
	}
	n.keys.Store(keys)
	n.kek = kek
	mgr, err := n.startManager(dctx, n.managerConfig(mem, dek))
	if err != nil {
		return err
	}
	n.setState(mem, mgr, n.startAgent(dctx, mem), false)
	n.log.Info("swarm manager unlocked", "node.id", mem.NodeID)
	return nil
}

func unlockError(err error) error {
	if errdefs.Is(err, errdefs.KindInvalid) {
		return errInvalidUnlockKey
	}
	return err
}

var errNoManager = errors.New("no manager answered")
