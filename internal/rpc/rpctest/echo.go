// Package rpctest is a small hand-written gRPC service, with no protobuf,
// for testing transports and authorization: a unary echo of a Docker API
// object, a server stream, and a call that returns the caller's identity.
package rpctest

import (
	"context"
	"errors"
	"io"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/rpc"
)

// Full method names, as a ca.Policy names them.
const (
	MethodEcho   = "/shoal.test.Echo/Echo"
	MethodCount  = "/shoal.test.Echo/Count"
	MethodWhoami = "/shoal.test.Echo/Whoami"
)

// CountRequest asks Count for N tasks.
type CountRequest struct{ N int }

// Empty is a message with no fields.
type Empty struct{}

// Server implements the service.
type Server struct{}

// Echo returns the service it was sent, its version bumped, to show the
// message was decoded and re-encoded rather than passed through.
func (Server) Echo(_ context.Context, s *swarm.Service) (*swarm.Service, error) {
	s.Version.Index++
	return s, nil
}

// Count streams n tasks with slots 1..n.
func (Server) Count(req *CountRequest, send func(*swarm.Task) error) error {
	for i := 1; i <= req.N; i++ {
		if err := send(&swarm.Task{ID: "task", Slot: i}); err != nil {
			return err
		}
	}
	return nil
}

// Whoami returns the caller's identity from its certificate.
func (Server) Whoami(ctx context.Context, _ *Empty) (*ca.Identity, error) {
	id, err := ca.IdentityFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// ServiceDesc describes the service to grpc.Server.RegisterService.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: "shoal.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: rpc.Unary(MethodEcho, Server.Echo)},
		{MethodName: "Whoami", Handler: rpc.Unary(MethodWhoami, Server.Whoami)},
	},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Count",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			req := new(CountRequest)
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			return srv.(Server).Count(req, func(t *swarm.Task) error { return stream.SendMsg(t) })
		},
	}},
}

// Echo calls MethodEcho.
func Echo(ctx context.Context, cc grpc.ClientConnInterface, s *swarm.Service) (*swarm.Service, error) {
	out := new(swarm.Service)
	return out, cc.Invoke(ctx, MethodEcho, s, out)
}

// Whoami calls MethodWhoami.
func Whoami(ctx context.Context, cc grpc.ClientConnInterface) (*ca.Identity, error) {
	out := new(ca.Identity)
	return out, cc.Invoke(ctx, MethodWhoami, &Empty{}, out)
}

// Count calls MethodCount and collects the stream.
func Count(ctx context.Context, cc grpc.ClientConnInterface, n int) ([]swarm.Task, error) {
	stream, err := cc.NewStream(ctx, &ServiceDesc.Streams[0], MethodCount)
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(&CountRequest{N: n}); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	var tasks []swarm.Task
	for {
		var t swarm.Task
		if err := stream.RecvMsg(&t); err != nil {
			if errors.Is(err, io.EOF) {
				return tasks, nil
			}
			return tasks, err
		}
		tasks = append(tasks, t)
	}
}
