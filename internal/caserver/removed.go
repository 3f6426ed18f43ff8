package caserver

import (
	"context"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/store"
)

// Removed reports whether the node was removed from the swarm c is.
func Removed(c *store.Cluster, nodeID string) bool {
	return c != nil && slices.Contains(c.RemovedNodes, nodeID)
}

// errRemoved is NotFound, which the agent takes for "this node is no
// member any more" and leaves the swarm on.
func errRemoved(nodeID string) error {
	return status.Errorf(codes.NotFound, "node %s was removed from the swarm", nodeID)
}

// NotRemoved returns a check that refuses a node removed from the swarm st
// holds: its certificate is still valid until it expires, so the managers
// refuse it by ID — on raft connections
// (clusterconn.RaftStreamLayer.SetPeerCheck) and on gRPC calls
// (RefuseRemoved).
func NotRemoved(st *store.Store) func(ca.Identity) error {
	return func(id ca.Identity) error {
		var c *store.Cluster
		st.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
		if Removed(c, id.NodeID) {
			return errRemoved(id.NodeID)
		}
		return nil
	}
}

// RefuseRemoved returns server interceptors that refuse every call from a
// node removed from the swarm (see NotRemoved).
func RefuseRemoved(st *store.Store) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	notRemoved := NotRemoved(st)
	check := func(ctx context.Context) error {
		id, err := ca.IdentityFromContext(ctx)
		if err != nil {
			return nil // anonymous callers are the policy's to judge
		}
		return notRemoved(id)
	}
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := check(ctx); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := check(ss.Context()); err != nil {
			return err
		}
		return handler(srv, ss)
	}
	return unary, stream
}
