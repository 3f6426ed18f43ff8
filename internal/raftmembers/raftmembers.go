// Package raftmembers is the gRPC service through which managers change
// the raft group: a manager that joined with a token asks the leader to
// add it as a voter, and a demoted or removed manager is taken out.
package raftmembers

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/rpc"
)

// MethodJoin is the full name of the join call.
const MethodJoin = "/shoal.Raft/Join"

// Policy: only managers change the raft group.
func Policy() ca.Policy { return ca.Policy{MethodJoin: {ca.ManagerRole}} }

// JoinRequest asks to add the calling manager (its ID comes from its
// certificate) as a voter reachable at Addr.
type JoinRequest struct{ Addr string }

// JoinResponse is empty: success means the leader committed the change.
type JoinResponse struct{}

// Server adds managers to the raft group; only the leader can.
type Server struct{ raft *consensus.Node }

// New returns a server over this manager's raft node.
func New(n *consensus.Node) *Server { return &Server{raft: n} }

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { g.RegisterService(&serviceDesc, s) }

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "shoal.Raft",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Join", Handler: rpc.Unary(MethodJoin, (*Server).Join)},
	},
}

// Join adds the caller as a voter. A follower answers Unavailable naming
// the leader, so the caller can ask it.
func (s *Server) Join(ctx context.Context, req *JoinRequest) (*JoinResponse, error) {
	id, err := ca.IdentityFromContext(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if req.Addr == "" {
		return nil, status.Error(codes.InvalidArgument, "join raft: the joining manager's address is empty")
	}
	if !s.raft.IsLeader() {
		addr, _ := s.raft.Leader()
		return nil, status.Errorf(codes.Unavailable, "not the raft leader; the leader is at %q", addr)
	}
	f := s.raft.Raft().AddVoter(raft.ServerID(id.NodeID), raft.ServerAddress(req.Addr), 0, 30*time.Second)
	if err := f.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "add %s to the raft group: %v", id.NodeID, err)
	}
	return &JoinResponse{}, nil
}

// JoinVia asks the managers at addrs, in turn, to add this manager until
// the leader does. dial connects to one manager.
func JoinVia(ctx context.Context, addrs []string, self string, dial func(ctx context.Context, addr string) (*grpc.ClientConn, error)) error {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		for _, addr := range addrs {
			cc, err := dial(ctx, addr)
			if err != nil {
				last = err
				continue
			}
			err = cc.Invoke(ctx, MethodJoin, &JoinRequest{Addr: self}, new(JoinResponse))
			cc.Close()
			if err == nil {
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("no manager added this one to the raft group: %w", last)
}
