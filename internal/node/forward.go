package node

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/forward"
)

// Forwarder returns how to route a cluster write now: nil when this node
// serves it itself (not a manager — the control API then refuses — or
// the leader).
func (n *Node) Forwarder() forward.Router {
	n.mu.Lock()
	mgr := n.mgr
	n.mu.Unlock()
	if mgr == nil || mgr.raft.IsLeader() {
		return nil
	}
	return &leaderRoute{n: n, mgr: mgr}
}

type leaderRoute struct {
	n   *Node
	mgr *manager
}

func (r *leaderRoute) Route() (string, bool) {
	addr, _ := r.mgr.raft.Leader()
	return addr, true
}

func (r *leaderRoute) Dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	return clusterconn.DialGRPC(ctx, addr, r.n.tlsFor(clusterconn.ProtoGRPC))
}

func (r *leaderRoute) WaitIndex(ctx context.Context, idx uint64) error {
	for r.mgr.store.Index() < idx {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
