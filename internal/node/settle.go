package node

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// settleTimeout bounds how long swarm init and join wait for the node's
// first writes, as dockerd waits up to 20 s for its node to be ready.
const settleTimeout = 20 * time.Second

// settle waits, after init or join, until the writes that follow a node's
// start have landed: its agent's first session began (the managers wrote
// the node ready, with the description and addresses it reported) and, on
// a manager, the leader recorded it as a reachable raft member. A client
// that reads the node once init or join returned can then update it with
// the version it read, as on Docker. Past settleTimeout the node goes on
// in the background and init or join returns all the same.
func (n *Node) settle(ctx context.Context, mem *membership, mgr *manager, a *runningAgent) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	if !a.waitSession(ctx) {
		n.log.Warn("the node's agent has no session yet; going on without it", "node.id", mem.NodeID)
		return
	}
	if mgr == nil {
		return
	}
	sub := mgr.store.Subscribe()
	defer sub.Close()
	for {
		var nd *store.Node
		mgr.store.View(func(tx store.ReadTx) { nd = store.Get[*store.Node](tx, mem.NodeID) })
		if nd != nil && memberRecorded(nd.ManagerStatus, mem.AdvertiseAddr) {
			return
		}
		select {
		case <-ctx.Done():
			n.log.Warn("the leader has not recorded this manager as reachable yet; going on", "node.id", mem.NodeID)
			return
		case <-sub.Wake():
			sub.Drain()
		}
	}
}

// memberRecorded reports whether a manager's status is the one the
// leader gives a raft member at addr (planMembers).
func memberRecorded(ms *swarm.ManagerStatus, addr string) bool {
	return ms != nil && ms.Reachability == swarm.ReachabilityReachable && ms.Addr == addr
}
