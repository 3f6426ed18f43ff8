// Package raftmembers is the gRPC service through which members change
// their own place in the swarm on the leader: a manager that joined with a
// token (or was promoted) asks to be added to the raft group as a voter;
// a demoted manager asks to be taken out of it; and a node leaving the
// swarm says so, so that it is out of raft and marked down at once rather
// than when its heartbeats run out.
package raftmembers

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// Full method names.
const (
	MethodJoin  = "/shoal.Raft/Join"
	MethodLeave = "/shoal.Raft/Leave"
)

// Policy: only managers join the raft group; any member may leave.
func Policy() ca.Policy {
	return ca.Policy{
		MethodJoin:  {ca.ManagerRole},
		MethodLeave: {ca.ManagerRole, ca.WorkerRole},
	}
}

// JoinRequest asks to add the calling manager (its ID comes from its
// certificate) as a voter reachable at Addr.
type JoinRequest struct{ Addr string }

// JoinResponse is empty: success means the leader committed the change.
type JoinResponse struct{}

// LeaveRequest takes the caller out of the raft group. Swarm says the
// node leaves the swarm altogether: it is then recorded as a worker that
// is down, ready for `docker node rm`.
type LeaveRequest struct{ Swarm bool }

// LeaveResponse is empty: success means the caller is no raft member.
type LeaveResponse struct{}

// Server changes the raft group on the leader and records what it did in
// the store.
type Server struct {
	raft  *consensus.Node
	store *store.Store
}

// New returns a server over this manager's raft node and store.
func New(n *consensus.Node, st *store.Store) *Server { return &Server{raft: n, store: st} }

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { g.RegisterService(&serviceDesc, s) }

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "shoal.Raft",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Join", Handler: rpc.Unary(MethodJoin, (*Server).Join)},
		{MethodName: "Leave", Handler: rpc.Unary(MethodLeave, (*Server).Leave)},
	},
}

// leader refuses on a follower, naming the leader so the caller can ask it.
func (s *Server) leader() error {
	if s.raft.IsLeader() {
		return nil
	}
	addr, _ := s.raft.Leader()
	return status.Errorf(codes.Unavailable, "not the raft leader; the leader is at %q", addr)
}

// Join adds the caller as a voter. The store must say it is a manager: a
// certificate issued before a demotion or a removal does not get it back
// into raft.
func (s *Server) Join(ctx context.Context, req *JoinRequest) (*JoinResponse, error) {
	id, err := ca.IdentityFromContext(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if req.Addr == "" {
		return nil, status.Error(codes.InvalidArgument, "join raft: the joining manager's address is empty")
	}
	if err := s.leader(); err != nil {
		return nil, err
	}
	var n *store.Node
	s.store.View(func(tx store.ReadTx) { n = store.Get[*store.Node](tx, id.NodeID) })
	if n == nil || n.Spec.Role != swarm.NodeRoleManager {
		return nil, status.Errorf(codes.PermissionDenied, "node %s is not a manager of this swarm: it cannot join the raft group", id.NodeID)
	}
	f := s.raft.Raft().AddVoter(raft.ServerID(id.NodeID), raft.ServerAddress(req.Addr), 0, 30*time.Second)
	if err := f.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "add %s to the raft group: %v", id.NodeID, err)
	}
	return &JoinResponse{}, nil
}

// Leave removes the caller from the raft group and records it in the
// store. The leader itself cannot be removed while it leads: it hands
// leadership to another voter and answers Unavailable, so that the caller
// asks the new leader.
func (s *Server) Leave(ctx context.Context, req *LeaveRequest) (*LeaveResponse, error) {
	id, err := ca.IdentityFromContext(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if err := s.leader(); err != nil {
		return nil, err
	}
	cf := s.raft.Raft().GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "read the raft configuration: %v", err)
	}
	servers := cf.Configuration().Servers
	if member(servers, id.NodeID) {
		if _, self := s.raft.Leader(); self == id.NodeID {
			if len(servers) == 1 {
				return nil, status.Error(codes.FailedPrecondition, "this manager is the only member of the raft group: it cannot leave it")
			}
			if err := s.raft.Raft().LeadershipTransfer().Error(); err != nil {
				return nil, status.Errorf(codes.Unavailable, "hand leadership over before leaving the raft group: %v", err)
			}
			return nil, status.Error(codes.Unavailable, "this manager handed leadership over to leave the raft group; ask the new leader")
		}
		if err := s.raft.Raft().RemoveServer(raft.ServerID(id.NodeID), 0, 30*time.Second).Error(); err != nil {
			return nil, status.Errorf(codes.Unavailable, "remove %s from the raft group: %v", id.NodeID, err)
		}
	}
	err = s.store.Update(ctx, func(tx *store.WriteTx) error {
		cur := store.Get[*store.Node](tx.ReadTx, id.NodeID)
		if cur == nil {
			return nil
		}
		n := store.Clone(cur)
		n.ManagerStatus = nil
		if req.Swarm {
			n.Spec.Role = swarm.NodeRoleWorker
			n.Status = swarm.NodeStatus{State: swarm.NodeStateDown, Message: "node left the swarm", Addr: cur.Status.Addr}
		}
		return tx.Put(n)
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "record that %s left: %v", id.NodeID, err)
	}
	return &LeaveResponse{}, nil
}

func member(servers []raft.Server, id string) bool {
	for _, s := range servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// Dialer connects to one manager with the node's certificate.
type Dialer func(ctx context.Context, addr string) (*grpc.ClientConn, error)

// JoinVia asks the managers at addrs, in turn, to add this manager until
// the leader does.
func JoinVia(ctx context.Context, addrs []string, self string, dial Dialer) error {
	err := untilLeader(ctx, addrs, dial, MethodJoin, &JoinRequest{Addr: self}, new(JoinResponse))
	if err != nil {
		return fmt.Errorf("no manager added this one to the raft group: %w", err)
	}
	return nil
}

// LeaveVia asks the managers at addrs, in turn, to take this node out of
// the raft group (and, with leaveSwarm, to record that it left the swarm)
// until the leader does.
func LeaveVia(ctx context.Context, addrs []string, leaveSwarm bool, dial Dialer) error {
	err := untilLeader(ctx, addrs, dial, MethodLeave, &LeaveRequest{Swarm: leaveSwarm}, new(LeaveResponse))
	if err != nil {
		return fmt.Errorf("no manager took this node out of the raft group: %w", err)
	}
	return nil
}

// untilLeader calls method on each manager in turn, a few rounds, until
// one (the leader) succeeds. A refusal other than "not the leader now" is
// final.
func untilLeader(ctx context.Context, addrs []string, dial Dialer, method string, req, resp any) error {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		for _, addr := range addrs {
			cc, err := dial(ctx, addr)
			if err != nil {
				last = err
				continue
			}
			err = cc.Invoke(ctx, method, req, resp)
			cc.Close()
			switch status.Code(err) {
			case codes.OK:
				return nil
			case codes.PermissionDenied, codes.FailedPrecondition, codes.InvalidArgument:
				return err
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return last
}
