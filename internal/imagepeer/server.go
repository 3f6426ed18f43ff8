package imagepeer

import (
	"context"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
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

// Register adds the service that resolves images to a gRPC server; the
// blobs are served by ServeBlobs.
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

var peerDesc = grpc.ServiceDesc{
	ServiceName: "shoal.ImagePeer",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Resolve", Handler: rpc.Unary(MethodResolve, (*Server).Resolve)},
	},
}
