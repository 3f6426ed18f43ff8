// Package rpc makes gRPC carry JSON instead of protobuf, so that services
// between Shoal nodes send the Docker API Go types as they are (one model,
// no generated code).
package rpc

import (
	"encoding/json"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"github.com/shoal-project/shoal/internal/limits"
)

// Name is the codec's name and the call's content-subtype
// (application/grpc+json).
const Name = "json"

// Codec marshals gRPC messages with encoding/json. Messages are pointers to
// plain Go structs.
type Codec struct{}

func init() {
	encoding.RegisterCodecV2(Codec{})
}

// Name implements encoding.CodecV2.
func (Codec) Name() string { return Name }

// Marshal implements encoding.CodecV2. A json.RawMessage goes as it is:
// its sender encoded it already, to know its size.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(raw)}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rpc: marshal %T: %w", v, err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal implements encoding.CodecV2.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := json.Unmarshal(data.Materialize(), v); err != nil {
		return fmt.Errorf("rpc: unmarshal %T: %w", v, err)
	}
	return nil
}

// MaxMessageSize is the most either end of a cluster connection sends or
// receives in one message (limits.MaxMessageSize), set on servers and
// clients here and nowhere else: a sender that needs more splits (as the
// dispatcher does its assignment sets).
const MaxMessageSize = limits.MaxMessageSize

// ServerOptions make a gRPC server use the JSON codec for every call,
// whatever content-subtype the client names, and MaxMessageSize both
// ways.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(Codec{}),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
	}
}

// DialOption makes every call on a client connection use the JSON codec
// and MaxMessageSize both ways.
func DialOption() grpc.DialOption {
	return grpc.WithDefaultCallOptions(
		grpc.ForceCodecV2(Codec{}),
		grpc.MaxCallRecvMsgSize(MaxMessageSize),
		grpc.MaxCallSendMsgSize(MaxMessageSize),
	)
}
