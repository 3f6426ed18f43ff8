package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// managerStatuses decides the ManagerStatus every manager node should
// show while selfID leads: the leader is itself, and a follower is
// reachable unless raft's heartbeats to it are failing. It returns the
// nodes to change.
func managerStatuses(nodes []*store.Node, selfID string, unreachable map[string]bool) []*store.Node {
	var out []*store.Node
	for _, n := range nodes {
		if n.ManagerStatus == nil {
			continue
		}
		want := *n.ManagerStatus
		want.Leader = n.ID == selfID
		switch {
		case want.Leader || !unreachable[n.ID]:
			want.Reachability = swarm.ReachabilityReachable
		default:
			want.Reachability = swarm.ReachabilityUnreachable
		}
		if want != *n.ManagerStatus {
			c := *n
			c.ManagerStatus = &want
			out = append(out, &c)
		}
	}
	return out
}

// trackManagers keeps the managers' ManagerStatus true while this manager
// leads, until ctx ends.
func trackManagers(ctx context.Context, rn *consensus.Node, st *store.Store, selfID string, log *slog.Logger) {
	obs := make(chan raft.Observation, 64)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	rn.Raft().RegisterObserver(o)
	defer rn.Raft().DeregisterObserver(o)

	unreachable := map[string]bool{}
	// Managers join and change role at any time: look again now and then.
	resync := time.NewTicker(2 * time.Second)
	defer resync.Stop()
	for {
		var nodes []*store.Node
		st.View(func(tx store.ReadTx) { nodes = store.All[*store.Node](tx) })
		if changes := managerStatuses(nodes, selfID, unreachable); len(changes) > 0 {
			err := st.Update(ctx, func(tx *store.WriteTx) error {
				for _, c := range changes {
					// Apply to the current object: the dispatcher may
					// have changed its status meanwhile.
					cur := store.Get[*store.Node](tx.ReadTx, c.ID)
					if cur == nil || cur.ManagerStatus == nil {
						continue
					}
					n := *cur
					n.ManagerStatus = c.ManagerStatus
					if err := tx.Put(&n); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil && ctx.Err() == nil {
				log.Warn("update manager status", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case o := <-obs:
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				unreachable[string(d.PeerID)] = true
			case raft.ResumedHeartbeatObservation:
				delete(unreachable, string(d.PeerID))
			}
		case <-resync.C:
		}
	}
}
