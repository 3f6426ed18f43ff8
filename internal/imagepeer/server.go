package imagepeer

import (
	"context"
	"errors"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/rpc"
)

// Content is what a node serves from: its image records and content store
// (images.Store).
type Content interface {
	// Target is the descriptor of an image this node holds whole whose
	// top is d; errdefs.NotFound when none is.
	Target(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error)
	// Blob opens blob d; errdefs.NotFound when it is not here.
	Blob(ctx context.Context, d digest.Digest) (content.ReaderAt, error)
}

// Server serves this node's images to the other nodes.
type Server struct {
	content Content
	serving chan struct{} // a slot per blob being sent (limits.PeerMaxServing)
}

// NewServer serves c.
func NewServer(c Content) *Server {
	return &Server{content: c, serving: make(chan struct{}, limits.PeerMaxServing)}
}

// Register adds the service to a gRPC server.
func (s *Server) Register(g grpc.ServiceRegistrar) { g.RegisterService(&peerDesc, s) }

// Resolve returns the descriptor of the image whose top is req.Digest.
func (s *Server) Resolve(ctx context.Context, req *ResolveRequest) (*ocispec.Descriptor, error) {
	if err := req.Digest.Validate(); err != nil {
		return nil, rpc.Status(errdefs.Invalid("Digest: %v", err))
	}
	d, err := s.content.Target(ctx, req.Digest)
	if err != nil {
		return nil, rpc.Status(err)
	}
	return &d, nil
}

// Fetch streams blob req.Digest from req.Offset in chunks of
// limits.PeerChunkSize, once a serving slot is free.
func (s *Server) Fetch(ctx context.Context, req *FetchRequest, send func(*rpc.Bytes) error) error {
	if err := req.Digest.Validate(); err != nil {
		return rpc.Status(errdefs.Invalid("Digest: %v", err))
	}
	if req.Offset < 0 {
		return rpc.Status(errdefs.Invalid("Offset: %d is negative", req.Offset))
	}
	select {
	case s.serving <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.serving }()
	ra, err := s.content.Blob(ctx, req.Digest)
	if err != nil {
		return rpc.Status(err)
	}
	defer ra.Close()
	if req.Offset > ra.Size() {
		return rpc.Status(errdefs.Invalid("Offset: %d is past the blob's %d bytes", req.Offset, ra.Size()))
	}
	r := io.NewSectionReader(ra, req.Offset, ra.Size()-req.Offset)
	for {
		// A buffer per message: gRPC may still be sending the last one.
		buf := make([]byte, limits.PeerChunkSize)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			chunk := rpc.Bytes(buf[:n])
			if serr := send(&chunk); serr != nil {
				return serr
			}
			metrics.ImagePeerServedBytes.Add(float64(n))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return rpc.Status(err)
		}
	}
}

var peerDesc = grpc.ServiceDesc{
	ServiceName: "shoal.ImagePeer",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Resolve", Handler: rpc.Unary(MethodResolve, (*Server).Resolve)},
	},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Fetch",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			req := new(FetchRequest)
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			return srv.(*Server).Fetch(stream.Context(), req, func(b *rpc.Bytes) error { return stream.SendMsg(b) })
		},
	}},
}
