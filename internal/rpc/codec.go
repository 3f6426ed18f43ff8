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

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
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

// ServerOption makes a gRPC server use the JSON codec for every call,
// whatever content-subtype the client names.
func ServerOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(Codec{})
}

// DialOption makes every call on a client connection use the JSON codec.
func DialOption() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}))
}
