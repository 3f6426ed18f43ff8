package imagepeer

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// An interrupted blob resumes: the reader seeks to where the content
// store's ingest stopped, and the holder sends from there.
func TestBlobResumes(t *testing.T) {
	src, img, _ := loaded(t, "app:v1")
	s, _ := serve(t, src)
	config, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	d := digest.Digest(config.String())
	ra, err := src.Blob(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	whole := make([]byte, ra.Size())
	if _, err := ra.ReadAt(whole, 0); err != nil {
		t.Fatal(err)
	}
	ra.Close()
	desc := ocispec.Descriptor{Digest: d, Size: int64(len(whole))}
	for _, off := range []int64{0, 10, int64(len(whole)) - 1, int64(len(whole))} {
		b := &blobReader{ctx: t.Context(), r: s.resolver(t, nil, ""), desc: desc}
		if _, err := b.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatalf("read from %d: %v", off, err)
		}
		if !bytes.Equal(got, whole[off:]) {
			t.Errorf("from %d: got %d bytes, want the blob's last %d", off, len(got), len(whole)-int(off))
		}
	}
}

// The holder checks what it is asked, and the fetching node what the
// holder answers.
func TestBlobRequestsChecked(t *testing.T) {
	src, img, _ := loaded(t, "app:v1")
	s, _ := serve(t, src)
	config, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	d := digest.Digest(config.String())
	ra, err := src.Blob(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	size := ra.Size()
	ra.Close()
	for _, c := range []struct {
		name string
		req  FetchRequest
		size int64
		want errdefs.Kind
	}{
		{"not a digest", FetchRequest{Digest: "sha256:nope"}, size, errdefs.KindInvalid},
		{"negative offset", FetchRequest{Digest: d, Offset: -1}, size, errdefs.KindInvalid},
		{"offset past the end", FetchRequest{Digest: d, Offset: size + 1}, size, errdefs.KindInvalid},
		{"a blob it does not hold", FetchRequest{Digest: digest.FromString("elsewhere")}, 10, errdefs.KindNotFound},
		{"a size that is not the blob's", FetchRequest{Digest: d}, size + 1, errdefs.KindInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := s.blobs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := openBlob(conn, &c.req, c.size); errdefs.KindOf(err) != c.want {
				t.Errorf("got %v, want kind %v", err, c.want)
			}
		})
	}
}

// A manager refuses blobs to a node removed from the swarm, whose
// certificate is still valid, as its gRPC services do.
func TestBlobAllowRefuses(t *testing.T) {
	src, _, d := loaded(t, "app:v1")
	s := &swarm{root: clusterconntest.NewRoot(t)}
	s.manager = clusterconntest.NewNode(t, s.root, ca.ManagerRole)
	s.worker = clusterconntest.NewNode(t, s.root, ca.WorkerRole)
	mux := clusterconntest.Listen(t, s.root, s.manager)
	s.addr = mux.Addr().String()
	serveBlobs(t, NewServer(src), mux, func(id ca.Identity) error {
		if id.NodeID == s.worker.ID {
			return errdefs.Forbidden("node %s was removed from the swarm", id.NodeID)
		}
		return nil
	})
	desc, err := src.Target(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		as   clusterconntest.Node
		want errdefs.Kind
	}{
		{"removed", s.worker, errdefs.KindForbidden},
		{"member", s.manager, errdefs.KindUnknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := s.dialBlob(c.as, Holder{NodeID: s.manager.ID, Addr: s.addr})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := openBlob(conn, &FetchRequest{Digest: d}, desc.Size); errdefs.KindOf(err) != c.want || (c.want == errdefs.KindUnknown) != (err == nil) {
				t.Errorf("got %v, want kind %v", err, c.want)
			}
		})
	}
}

// gated counts the blobs opened, and holds the first open until gate
// closes: that fetch keeps its serving slot meanwhile.
type gated struct {
	Content
	gate   chan struct{}
	opened atomic.Int32
}

func (g *gated) Blob(ctx context.Context, d digest.Digest) (content.ReaderAt, error) {
	if g.opened.Add(1) == 1 {
		<-g.gate
	}
	return g.Content.Blob(ctx, d)
}

// A fetching node that hangs up after asking while every serving slot is
// taken costs the holder nothing: it is refused as busy (the holder
// queues no one), and the holder never opens the blob for it.
func TestBlobQueuedHangUp(t *testing.T) {
	src, img, _ := loaded(t, "app:v1")
	config, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	d := digest.Digest(config.String())
	ra, err := src.Blob(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	size := ra.Size()
	ra.Close()
	s := &swarm{root: clusterconntest.NewRoot(t)}
	s.manager = clusterconntest.NewNode(t, s.root, ca.ManagerRole)
	s.worker = clusterconntest.NewNode(t, s.root, ca.WorkerRole)
	mux := clusterconntest.Listen(t, s.root, s.manager)
	s.addr = mux.Addr().String()
	g := &gated{Content: src, gate: make(chan struct{})}
	holder := &Server{content: g, serving: make(chan struct{}, 1)}
	serveBlobs(t, holder, mux, nil)

	open := func() net.Conn {
		t.Helper()
		conn, err := s.blobs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFrame(conn, &FetchRequest{Digest: d}); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	first := open()
	defer first.Close()
	waitFor(t, "the first fetch to take the slot", func() bool { return g.opened.Load() == 1 })
	queued := open()
	time.Sleep(100 * time.Millisecond) // its request reaches the holder
	queued.Close()
	time.Sleep(100 * time.Millisecond) // and so does its hang-up
	close(g.gate)
	// The holder refuses a fetch while its one slot is taken (busy): the
	// last comes once the first has given it back.
	waitFor(t, "the first fetch to give its slot back", func() bool { return len(holder.serving) == 0 })
	last := open()
	defer last.Close()
	for _, conn := range []net.Conn{first, last} {
		var h blobHeader
		if err := readFrame(conn, &h); err != nil || h.Size != size {
			t.Fatalf("header %+v, %v; want the blob's size %d", h, err, size)
		}
		if _, err := io.ReadFull(conn, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // a handler still queued would open it now
	if n := g.opened.Load(); n != 2 {
		t.Errorf("the holder opened the blob %d times for two fetches and one that hung up, want 2", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
