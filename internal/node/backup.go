package node

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/backup"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/store"
)

// Backup returns a backup (package backup) of the swarm's state as this
// manager holds it: consistent at one raft index, taken while it serves.
// A follower's may be a few entries behind the leader's. The data key is
// sealed with the swarm's unlock key when the swarm is autolocked.
func (n *Node) Backup(ctx context.Context) ([]byte, error) {
	if err := n.waitStarted(ctx); err != nil {
		return nil, err
	}
	mem, mgr, _, locked := n.snapshot()
	switch {
	case locked:
		return nil, errLocked
	case mem == nil:
		return nil, errNotManager
	case mgr == nil:
		return nil, errdefs.Unavailable("This node is not a swarm manager: a backup is taken on a manager, which holds the swarm's state.")
	}
	state, err := mgr.raft.State()
	if err != nil {
		return nil, errdefs.Unavailable("take a backup: %w", err)
	}
	saved := store.New()
	if err := saved.Restore(bytes.NewReader(state)); err != nil {
		return nil, err
	}
	var c *store.Cluster
	saved.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	if c == nil {
		return nil, errdefs.Unavailable("take a backup: this manager does not hold the swarm's state yet")
	}
	kek, err := desiredKEK(c)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	h := backup.Header{ClusterID: c.ID, Index: saved.Index(), TakenAt: time.Now().UTC(), TakenOn: mem.NodeID}
	if err := backup.Write(&buf, h, state, kek); err != nil {
		return nil, err
	}
	n.log.Info("swarm backup taken", "cluster.id", c.ID, "raft.index", h.Index, "autolocked", kek != nil)
	return buf.Bytes(), nil
}

// Restore makes this node, in no swarm, the only manager of the swarm a
// backup was taken of, as swarm init --force-new-cluster would on the
// manager it was taken on: a raft group of one, seeded with the backup's
// state at its index, so that services, secrets, configs and networks
// keep their IDs and versions. The node joins under a new ID with a
// certificate of the swarm's root CA; every node of the backup is marked
// down and the managers among them demoted (restoredNodes). A backup of
// an autolocked swarm stays autolocked with the same unlock key.
func (n *Node) Restore(ctx context.Context, req backup.RestoreRequest, r io.Reader) (string, error) {
	if err := n.waitStarted(ctx); err != nil {
		return "", err
	}
	if err := n.lockOp(ctx); err != nil {
		return "", err
	}
	defer n.unlockOp()
	if mem, _, _, locked := n.snapshot(); mem != nil || locked {
		return "", errdefs.Unavailable(`This node is already part of a swarm: a backup is restored on a node in no swarm. Use "docker swarm leave --force" first.`)
	}
	var kek []byte
	if req.UnlockKey != "" {
		var err error
		if kek, err = controlapi.ParseUnlockKey(req.UnlockKey); err != nil {
			return "", errdefs.Invalid("unlock key: %w", err)
		}
	}
	h, state, err := backup.Read(r, kek)
	if err != nil {
		return "", err
	}
	saved := store.New()
	if err := saved.Restore(bytes.NewReader(state)); err != nil {
		return "", errdefs.Invalid("backup state: %w", err)
	}
	var c *store.Cluster
	saved.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	if c == nil || c.ID != h.ClusterID || saved.Index() != h.Index {
		return "", errdefs.Invalid("backup state does not match its header (cluster %s at index %d)", h.ClusterID, h.Index)
	}
	dctx, err := n.daemonCtx()
	if err != nil {
		return "", err
	}
	listen, advertise, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr, n.hostAddrs)
	if err != nil {
		return "", err
	}
	dataPath, err := dataPathAddr(req.DataPathAddr)
	if err != nil {
		return "", err
	}
	availability := req.Availability
	if availability == "" {
		availability = swarm.NodeAvailabilityActive
	}
	mem := &membership{
		NodeID:        identity.NewID(),
		ClusterID:     c.ID,
		Role:          "manager",
		ListenAddr:    listen,
		AdvertiseAddr: advertise,
		DataPathAddr:  dataPath,
		Managers:      []string{advertise},
	}
	keys, desc, dek, err := n.prepareManager(ctx, c, mem.NodeID)
	if err != nil {
		return "", err
	}
	fail := n.discardManager
	if err := consensus.Seed(consensus.Config{Dir: raftDir(n.dir), LocalID: mem.NodeID, DEK: dek, Logger: n.log}, advertise, state); err != nil {
		return fail(err)
	}
	n.keys.Store(keys)
	// Sealing the keys with the swarm's unlock key, which the manager
	// does as it starts, waits for op, which this holds.
	mgr, err := n.startManager(dctx, n.managerConfig(mem, dek))
	if err != nil {
		return fail(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !mgr.raft.IsLeader() {
		select {
		case <-wctx.Done():
			mgr.stop()
			return fail(errdefs.Unavailable("the restored manager did not become the leader: %w", wctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	self := newManagerNode(mem.NodeID, advertise, dataPath, availability, desc)
	err = mgr.store.Update(wctx, func(tx *store.WriteTx) error {
		for _, nd := range restoredNodes(store.All[*store.Node](tx.ReadTx)) {
			if err := tx.Put(nd); err != nil {
				return err
			}
		}
		return tx.Put(self)
	})
	if err != nil {
		mgr.stop()
		return fail(err)
	}
	if err := saveMembership(n.dir, mem); err != nil {
		mgr.stop()
		return fail(err)
	}
	n.setState(mem, mgr, n.startAgent(dctx, mem), false)
	n.log.Warn("swarm restored from a backup: this manager is the only member of raft, the backup's nodes are down",
		"node.id", mem.NodeID, "cluster.id", c.ID, "raft.index", h.Index, "backup.taken_at", h.TakenAt)
	return mem.NodeID, nil
}

// restoredNodeMessage is what a node of a restored backup shows until it
// comes back.
const restoredNodeMessage = "restored from a backup: this node is down until it rejoins the swarm"

// restoredNodes is what becomes of a backup's nodes when it is restored:
// none of them is part of the new raft group, so the managers among them
// are demoted, and none has a session with it, so each is down until its
// agent reaches the restored manager (with the same certificate, if the
// manager took over an old manager's address) or it joins again.
func restoredNodes(nodes []*store.Node) []*store.Node {
	var out []*store.Node
	for _, nd := range nodes {
		c := store.Clone(nd)
		c.ManagerStatus = nil
		c.Spec.Role = swarm.NodeRoleWorker
		c.Status = swarm.NodeStatus{State: swarm.NodeStateDown, Message: restoredNodeMessage, Addr: nd.Status.Addr}
		out = append(out, c)
	}
	return out
}
