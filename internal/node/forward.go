package node

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/forward"
)

// Forwarder returns how this manager routes cluster writes and holds
// cluster reads now; nil when this node is not an unlocked manager (the
// control API then refuses on its own).
func (n *Node) Forwarder() forward.Router {
	n.mu.Lock()
	mgr := n.mgr
	n.mu.Unlock()
	if mgr == nil {
		return nil
	}
	return &leaderRoute{n: n, mgr: mgr}
}

type leaderRoute struct {
	n   *Node
	mgr *manager
}

func (r *leaderRoute) Route() (string, bool) {
	if r.mgr.raft.IsLeader() {
		return "", false
	}
	addr, _ := r.mgr.raft.Leader()
	return addr, true
}

func (r *leaderRoute) Dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	return r.mgr.leaderConn.get(ctx, addr, func(ctx context.Context) (*grpc.ClientConn, error) {
		return clusterconn.DialGRPC(ctx, addr, r.n.tlsFor(clusterconn.ProtoGRPC))
	})
}

func (r *leaderRoute) WaitIndex(ctx context.Context, idx uint64) error {
	for r.mgr.store.Index() < idx {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func (r *leaderRoute) ReadIndex(ctx context.Context) (uint64, error) {
	addr, fwd := r.Route()
	if !fwd {
		return r.mgr.raft.ReadIndex(ctx)
	}
	if addr == "" {
		return 0, errdefs.Unavailable("no leader is known")
	}
	cc, err := r.Dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	idx, err := forward.AskReadIndex(ctx, cc)
	if err != nil {
		r.mgr.leaderConn.drop(cc)
	}
	return idx, err
}

// connCache keeps one connection to the leader, so that reads and
// forwarded writes do not pay a TLS handshake each.
type connCache struct {
	mu   sync.Mutex
	addr string
	cc   *grpc.ClientConn
}

func (c *connCache) get(ctx context.Context, addr string, dial func(context.Context) (*grpc.ClientConn, error)) (*grpc.ClientConn, error) {
	c.mu.Lock()
	if c.cc != nil && c.addr == addr && c.cc.GetState() != connectivity.Shutdown {
		cc := c.cc
		c.mu.Unlock()
		return cc, nil
	}
	c.mu.Unlock()
	cc, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil && c.addr == addr {
		// Another request dialled meanwhile; keep one.
		cc.Close()
		return c.cc, nil
	}
	if c.cc != nil {
		c.cc.Close()
	}
	c.addr, c.cc = addr, cc
	return cc, nil
}

// drop forgets cc after a failed call, so that the next one dials anew.
func (c *connCache) drop(cc *grpc.ClientConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc == cc {
		c.cc.Close()
		c.cc, c.addr = nil, ""
	}
}

// close closes the cached connection when the manager stops.
func (c *connCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil {
		c.cc.Close()
		c.cc, c.addr = nil, ""
	}
}
