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

// memberPlan is what the leader changes so that the raft group and the
// managers' ManagerStatus agree with the roles the store gives.
type memberPlan struct {
	// Remove are voters to take out of raft: demoted, or whose node is gone.
	Remove []string
	// HandOver says this leader was demoted: it hands leadership over,
	// and the next leader removes it.
	HandOver bool
	// Nodes are the nodes whose ManagerStatus changes.
	Nodes []*store.Node
}

// planMembers decides, while selfID leads, how raft's voters and the
// store's managers are brought together. A voter the store holds as a
// manager gets a ManagerStatus at its raft address — the leader is itself,
// a follower is reachable unless raft's heartbeats to it fail. A voter the
// store holds as a worker (demoted), or no longer holds (removed), is
// taken out of raft; once out, a worker's ManagerStatus goes. A manager
// that is not a voter yet (joining, or promoted and not yet joined) keeps
// what it has.
func planMembers(nodes []*store.Node, voters []raft.Server, selfID string, unreachable map[string]bool) memberPlan {
	var plan memberPlan
	byID := make(map[string]*store.Node, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	addr := make(map[string]string, len(voters))
	for _, v := range voters {
		id := string(v.ID)
		addr[id] = string(v.Address)
		n := byID[id]
		demoted := n == nil || n.Spec.Role != swarm.NodeRoleManager
		switch {
		case id == selfID && demoted && n != nil:
			plan.HandOver = true
		case id != selfID && demoted:
			plan.Remove = append(plan.Remove, id)
		}
	}
	for _, n := range nodes {
		want := n.ManagerStatus
		if a, ok := addr[n.ID]; ok {
			want = &swarm.ManagerStatus{Addr: a, Leader: n.ID == selfID, Reachability: swarm.ReachabilityReachable}
			if n.ID != selfID && unreachable[n.ID] {
				want.Reachability = swarm.ReachabilityUnreachable
			}
		} else if want != nil && n.Spec.Role != swarm.NodeRoleManager {
			want = nil
		} else if want != nil && want.Leader {
			w := *want
			w.Leader = false
			want = &w
		}
		if !sameStatus(want, n.ManagerStatus) {
			c := *n
			c.ManagerStatus = want
			plan.Nodes = append(plan.Nodes, &c)
		}
	}
	return plan
}

func sameStatus(a, b *swarm.ManagerStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// trackMembers carries out planMembers while this manager leads, each
// time the store's nodes, raft's configuration or a follower's heartbeats
// change, until ctx ends.
func trackMembers(ctx context.Context, rn *consensus.Node, st *store.Store, selfID string, log *slog.Logger) {
	obs := make(chan raft.Observation, 64)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.PeerObservation:
			return true
		}
		return false
	})
	rn.Raft().RegisterObserver(o)
	defer rn.Raft().DeregisterObserver(o)
	sub := st.Subscribe()
	defer sub.Close()

	unreachable := map[string]bool{}
	// A failed change (no quorum for a moment) is tried again.
	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	for {
		applyMembers(ctx, rn, st, selfID, unreachable, log)
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
		case <-sub.Wake():
			if !nodesChanged(sub.Drain()) {
				continue
			}
		case <-retry.C:
		}
	}
}

func nodesChanged(evs []store.Event) bool {
	for _, ev := range evs {
		switch ev.Object.(type) {
		case *store.Node, nil:
			return true
		}
	}
	return false
}

func applyMembers(ctx context.Context, rn *consensus.Node, st *store.Store, selfID string, unreachable map[string]bool, log *slog.Logger) {
	cf := rn.Raft().GetConfiguration()
	if err := cf.Error(); err != nil {
		log.Warn("read the raft configuration", "err", err)
		return
	}
	var voters []raft.Server
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters = append(voters, s)
		}
	}
	var nodes []*store.Node
	st.View(func(tx store.ReadTx) { nodes = store.All[*store.Node](tx) })
	plan := planMembers(nodes, voters, selfID, unreachable)
	for _, id := range plan.Remove {
		if err := rn.Raft().RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
			log.Warn("remove a demoted manager from raft", "node.id", id, "err", err)
			continue
		}
		log.Info("removed a demoted manager from raft", "node.id", id)
	}
	if plan.HandOver {
		log.Info("this manager was demoted: handing raft leadership over")
		if err := rn.Raft().LeadershipTransfer().Error(); err != nil {
			log.Warn("hand raft leadership over", "err", err)
		}
		return
	}
	if len(plan.Nodes) == 0 {
		return
	}
	err := st.Update(ctx, func(tx *store.WriteTx) error {
		for _, c := range plan.Nodes {
			// The plan holds only if the node did not change since it was
			// read (a member left, a role changed): otherwise the next
			// round decides again.
			cur := store.Get[*store.Node](tx.ReadTx, c.ID)
			if cur == nil || cur.Version.Index != c.Version.Index {
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
