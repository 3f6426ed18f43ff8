package imagepeer

import (
	"context"
	"errors"
	"io"
	"sync"

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
// limits.PeerChunkSize, once a serving slot is free, reading the next
// chunks while gRPC sends one (limits.PeerReadAhead).
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
	// The reader stops before ra closes: cancel, then wait for it.
	ctx, cancel := context.WithCancel(ctx)
	chunks := make(chan chunk, limits.PeerReadAhead)
	var reading sync.WaitGroup
	reading.Go(func() { readChunks(ctx, r, chunks) })
	defer reading.Wait()
	defer cancel()
	for c := range chunks {
		if c.err != nil {
			return rpc.Status(c.err)
		}
		b := rpc.Bytes(c.data)
		if err := send(&b); err != nil {
			return err
		}
		metrics.ImagePeerServedBytes.Add(float64(len(c.data)))
	}
	return ctx.Err()
}

// chunk is a piece of a blob, or the error that ended reading it.
type chunk struct {
	data []byte
	err  error
}

// readChunks reads r to its end, limits.PeerReadSize at a time, into
// out in chunks of limits.PeerChunkSize, and closes out; a read error is
// the last chunk. It stops when ctx ends.
func readChunks(ctx context.Context, r io.Reader, out chan<- chunk) {
	defer close(out)
	for {
		// A buffer per read: gRPC may still be sending the last one.
		buf := make([]byte, limits.PeerReadSize)
		n, err := io.ReadFull(r, buf)
		end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if end {
			err = nil
		}
		for data := buf[:n]; len(data) > 0; {
			c := data[:min(len(data), limits.PeerChunkSize)]
			data = data[len(c):]
			select {
			case out <- chunk{data: c}:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			select {
			case out <- chunk{err: err}:
			case <-ctx.Done():
			}
			return
		}
		if end || n == 0 {
			return
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
