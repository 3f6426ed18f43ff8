package rpc

import (
	"context"

	"google.golang.org/grpc"
)

// Unary adapts a typed handler to a grpc.MethodDesc handler, decoding the
// request and running the server's interceptors as generated code would.
// Services here are written by hand (no protobuf), so this is the one
// place that glue lives.
func Unary[Srv, Req, Resp any](method string, h func(Srv, context.Context, *Req) (*Resp, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		req := new(Req)
		if err := dec(req); err != nil {
			return nil, err
		}
		call := func(ctx context.Context, r any) (any, error) { return h(srv.(Srv), ctx, r.(*Req)) }
		if icpt == nil {
			return call(ctx, req)
		}
		return icpt(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, call)
	}
}
