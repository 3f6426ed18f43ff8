package imagepeer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/containerd/containerd/v2/client"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/metrics"
)

// Puller writes what a resolver gives into the node's images
// (images.Store.PullFrom).
type Puller interface {
	PullFrom(ctx context.Context, ref string, r remotes.Resolver) (client.Image, error)
	// Hold keeps what pulls under the context it returns wrote until
	// done, even when they fail (images.Store.Hold).
	Hold(ctx context.Context) (context.Context, func(), error)
}

// Client fetches images from the other nodes of the swarm. It implements
// images.Peers.
type Client struct {
	Self     string          // this node's ID, never a holder to fetch from
	Managers func() []string // cluster addresses of the managers, to ask for holders
	// DialManager connects to a manager's cluster port, DialNode to a
	// holder's, checking that its certificate is that node's
	// (clusterconn.ClientTLSNode); DialBlob opens a blob connection to a
	// holder, checked the same way (clusterconn.DialBlob), or to a
	// manager that no node ID names (Unannounced).
	DialManager func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	DialNode    func(ctx context.Context, h Holder) (*grpc.ClientConn, error)
	DialBlob    func(ctx context.Context, h Holder) (net.Conn, error)
	Images      Puller
	Logger      *slog.Logger
}

// Fetch gets ref from a node that holds it: the holders a manager names,
// in Order, until one gives the whole image. A blob whose holder is busy
// comes from another holder (blobReader.open). errdefs.NotFound when no
// node holds it.
func (c *Client) Fetch(ctx context.Context, ref string) (client.Image, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid("invalid reference format %q: %w", ref, err)
	}
	req := &HoldersRequest{Name: named.String()}
	if canonical, ok := named.(reference.Canonical); ok {
		req = &HoldersRequest{Digest: canonical.Digest()}
	}
	resp, err := c.holders(ctx, req)
	if err != nil {
		return nil, err
	}
	tries := Order(resp.Holders, c.Self, rand.IntN)
	if len(tries) == 0 && resp.Digest != "" {
		tries = Unannounced(c.Managers())
	}
	if len(tries) == 0 {
		return nil, errdefs.NotFound("no other node of the swarm holds %s", ref)
	}
	// What a holder that failed wrote stays for the next one to resume.
	ctx, done, err := c.Images.Hold(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	// A busy holder's blob is asked of the holders of the image's digest
	// as the managers name them then.
	others := func(ctx context.Context) ([]Holder, error) {
		resp, err := c.holders(ctx, &HoldersRequest{Digest: resp.Digest})
		if err != nil {
			return nil, err
		}
		return Order(resp.Holders, c.Self, rand.IntN), nil
	}
	var errs []error
	for _, h := range tries {
		start := time.Now()
		img, err := c.fetchFrom(ctx, h, ref, resp.Digest, others)
		source := "peer"
		if h.Manager {
			source = "manager"
		}
		if err == nil {
			metrics.ImagePeerFetches.WithLabelValues(source, "ok").Inc()
			c.Logger.Info("image fetched from a node of the swarm", "image", ref, "image.digest", resp.Digest,
				"source", source, "source.node.id", h.NodeID, "source.addr", h.Addr, "took", time.Since(start).Round(time.Millisecond))
			return img, nil
		}
		metrics.ImagePeerFetches.WithLabelValues(source, "failed").Inc()
		if ctx.Err() != nil {
			return nil, err
		}
		c.Logger.Warn("fetching an image from a node failed", "image", ref, "source.node.id", h.NodeID, "source.addr", h.Addr, "err", err)
		errs = append(errs, fmt.Errorf("from %s: %w", h, err))
	}
	return nil, errors.Join(errs...)
}

// holders asks the managers in turn who holds the image.
func (c *Client) holders(ctx context.Context, req *HoldersRequest) (*HoldersResponse, error) {
	var errs []error
	for _, addr := range c.Managers() {
		cc, err := c.DialManager(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp := new(HoldersResponse)
		err = cc.Invoke(ctx, MethodHolders, req, resp)
		cc.Close()
		if err == nil {
			return resp, nil
		}
		if errdefs.Is(fromStatus(err), errdefs.KindNotFound) {
			return nil, errdefs.NotFound("no node of the swarm holds the image: %w", fromStatus(err))
		}
		errs = append(errs, fmt.Errorf("ask manager %s: %w", addr, err))
	}
	if len(errs) == 0 {
		return nil, errdefs.NotFound("no manager to ask who holds the image")
	}
	return nil, errdefs.Unavailable("no manager said who holds the image: %w", errors.Join(errs...))
}

func (c *Client) fetchFrom(ctx context.Context, h Holder, ref string, d digest.Digest, others func(context.Context) ([]Holder, error)) (client.Image, error) {
	dial := func() (*grpc.ClientConn, error) { return c.DialNode(ctx, h) }
	if h.NodeID == "" {
		dial = func() (*grpc.ClientConn, error) { return c.DialManager(ctx, h.Addr) }
	}
	cc, err := dial()
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	return c.Images.PullFrom(ctx, ref, &resolver{cc: cc, holder: h, dial: c.DialBlob, others: others, digest: d, log: c.Logger})
}

// resolver is a containerd resolver over one peer, holder: it resolves
// any reference to the one digest it was made for (gRPC, cc), and
// fetches blobs by digest (a blob connection each), from holder or, when
// it is busy, from the others.
type resolver struct {
	cc     grpc.ClientConnInterface
	holder Holder
	dial   func(context.Context, Holder) (net.Conn, error)
	others func(context.Context) ([]Holder, error)
	digest digest.Digest
	log    *slog.Logger
}

// Resolve asks the peer for the image's top descriptor, which must be the
// digest asked, of an index or manifest type, and small.
func (r *resolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	d := new(ocispec.Descriptor)
	if err := r.cc.Invoke(ctx, MethodResolve, &ResolveRequest{Digest: r.digest}, d); err != nil {
		return "", ocispec.Descriptor{}, fromStatus(err)
	}
	desc := descriptor(*d)
	if err := checkTop(desc, r.digest); err != nil {
		return "", ocispec.Descriptor{}, err
	}
	return ref, desc, nil
}

// checkTop refuses a peer's top descriptor that is not the digest asked,
// not an image's top, or too big to be one.
func checkTop(d ocispec.Descriptor, want digest.Digest) error {
	switch {
	case d.Digest != want:
		return errdefs.Invalid("the peer answered %s for %s", d.Digest, want)
	case !ctrimages.IsIndexType(d.MediaType) && !ctrimages.IsManifestType(d.MediaType):
		return errdefs.Invalid("the peer says %s is a %q, not an index or manifest", want, d.MediaType)
	case d.Size <= 0 || d.Size > limits.PeerMaxManifestSize:
		return errdefs.Invalid("the peer says %s has %d bytes; an index or manifest has 1 to %d", want, d.Size, limits.PeerMaxManifestSize)
	}
	return nil
}

func (r *resolver) Fetcher(context.Context, string) (remotes.Fetcher, error) { return r, nil }

func (r *resolver) Pusher(context.Context, string) (remotes.Pusher, error) {
	return nil, &errdefs.Error{Kind: errdefs.KindNotImplemented, Msg: "nodes of a swarm do not push images to each other"}
}

// Fetch returns the blob's bytes as the peer sends them: no more than
// desc.Size of them, which the content store then checks against
// desc.Digest. It can seek before the first read, so an interrupted fetch
// resumes where the content store's ingest stopped.
func (r *resolver) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return &blobReader{ctx: ctx, r: r, desc: desc}, nil
}

// blobReader reads one blob from a blob connection to the peer, opened on
// the first Read at the offset Seek set.
type blobReader struct {
	ctx  context.Context
	r    *resolver
	desc ocispec.Descriptor
	pos  int64
	conn net.Conn    // nil until the first Read
	stop func() bool // ends closing conn when ctx ends
}

// Seek moves to offset before reading starts.
func (b *blobReader) Seek(offset int64, whence int) (int64, error) {
	if b.conn != nil || whence != io.SeekStart || offset < 0 || offset > b.desc.Size {
		return b.pos, fmt.Errorf("blob %s: cannot seek to %d (whence %d) once reading or past its %d bytes", b.desc.Digest, offset, whence, b.desc.Size)
	}
	b.pos = offset
	return offset, nil
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.pos >= b.desc.Size {
		return 0, io.EOF
	}
	if b.conn == nil {
		if err := b.open(); err != nil {
			return 0, err
		}
	}
	b.conn.SetReadDeadline(time.Now().Add(limits.PeerIdleTimeout))
	// Never more than the descriptor's size: a peer that sends more is
	// cut off, and the digest check refuses what it sent.
	n, err := b.conn.Read(p[:min(int64(len(p)), b.desc.Size-b.pos)])
	b.pos += int64(n)
	switch {
	case err == nil:
	case b.ctx.Err() != nil:
		err = b.ctx.Err()
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("blob %s: the peer stopped at %d of %d bytes: %w", b.desc.Digest, b.pos, b.desc.Size, io.ErrUnexpectedEOF)
	default:
		err = fmt.Errorf("blob %s: %w", b.desc.Digest, err)
	}
	return n, err
}

// open opens the blob at b.pos on the resolver's holder or, when it is
// busy serving other nodes, on the holders the managers name then (the
// nodes that fetched the image meanwhile), again after busyBackoff while
// every one is busy (askAgain), until b.ctx ends.
func (b *blobReader) open() error {
	err := b.openOn(b.r.holder)
	for round := 0; errors.Is(err, ErrBusy); round++ {
		if round > 0 {
			wait := busyBackoff(round-1, rand.Float64())
			b.r.log.Debug("every holder of a blob is busy; asking the managers again", "blob", b.desc.Digest, "round", round, "after", wait.Round(time.Millisecond))
			select {
			case <-b.ctx.Done():
				return fmt.Errorf("blob %s: every holder was busy: %w", b.desc.Digest, errors.Join(err, b.ctx.Err()))
			case <-time.After(wait):
			}
		}
		err = b.openOnOthers()
	}
	return err
}

// openOnOthers opens the blob on the first holder the managers name now
// that serves it; an error in ErrBusy's chain when askAgain says so.
func (b *blobReader) openOnOthers() error {
	holders, err := b.r.others(b.ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range holders {
		err := b.openOn(h)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("from %s: %w", h, err))
	}
	if askAgain(errs) {
		return fmt.Errorf("%w: %w", ErrBusy, errors.Join(errs...))
	}
	return errors.Join(errs...)
}

// openOn opens the blob at b.pos on holder h.
func (b *blobReader) openOn(h Holder) error {
	conn, err := b.r.dial(b.ctx, h)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(b.ctx, func() { conn.Close() })
	if err := openBlob(conn, &FetchRequest{Digest: b.desc.Digest, Offset: b.pos}, b.desc.Size); err != nil {
		stop()
		conn.Close()
		return err
	}
	b.conn, b.stop = conn, stop
	return nil
}

func (b *blobReader) Close() error {
	if b.conn == nil {
		return nil
	}
	b.stop()
	return b.conn.Close()
}

// fromStatus gives a peer's gRPC status an errdefs kind: NotFound stays
// NotFound (the peer no longer holds the image), the rest is kept as is.
func fromStatus(err error) error {
	if status.Code(err) == codes.NotFound {
		return &errdefs.Error{Kind: errdefs.KindNotFound, Msg: status.Convert(err).Message(), Err: err}
	}
	return err
}
