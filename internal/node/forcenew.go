package node

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// forceNewCluster makes this manager the only member of its raft group,
// keeping the swarm's state: the way back for the last manager standing
// when the others are gone for good (swarm init --force-new-cluster). The
// other managers become workers without a ManagerStatus; one that comes
// back follows its node object, steps out of its stale raft group and
// serves as a worker until promoted again. The caller holds op.
func (n *Node) forceNewCluster(ctx context.Context) error {
	mem, mgr, a, _ := n.snapshot()
	if mem.Role != "manager" {
		return errdefs.Invalid("--force-new-cluster only applies to a manager: this node is a worker")
	}
	dctx, err := n.daemonCtx()
	if err != nil {
		return err
	}
	dek, err := loadDEK(n.dir, n.kek)
	if err != nil {
		return err
	}
	if mgr != nil {
		mgr.stop()
		n.setState(mem, nil, a, false)
	}
	if err := consensus.Recover(consensus.Config{Dir: raftDir(n.dir), LocalID: mem.NodeID, DEK: dek, Logger: n.log}, mem.AdvertiseAddr); err != nil {
		return err
	}
	mgr, err = n.startManager(dctx, n.managerConfig(mem, dek))
	if err != nil {
		return err
	}
	n.setState(mem, mgr, a, false)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !mgr.raft.IsLeader() {
		select {
		case <-wctx.Done():
			return errdefs.Unavailable("the recovered manager did not become the leader: %w", wctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	err = mgr.store.Update(wctx, func(tx *store.WriteTx) error {
		for _, nd := range store.All[*store.Node](tx.ReadTx) {
			if nd.ID == mem.NodeID || (nd.ManagerStatus == nil && nd.Spec.Role != swarm.NodeRoleManager) {
				continue
			}
			c := store.Clone(nd)
			c.ManagerStatus = nil
			c.Spec.Role = swarm.NodeRoleWorker
			if err := tx.Put(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop the other managers after forcing a new cluster: %w", err)
	}
	next := *mem
	next.Managers = []string{mem.AdvertiseAddr}
	if err := saveMembership(n.dir, &next); err != nil {
		return err
	}
	n.setState(&next, mgr, a, false)
	n.log.Warn("forced a new cluster: this manager is the only member of raft", "node.id", mem.NodeID)
	return nil
}
