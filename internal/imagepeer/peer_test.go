package imagepeer

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// swarm is a manager serving its images and the index on a real cluster
// port, and a worker's identity to fetch with.
type swarm struct {
	root            *ca.RootCA
	manager, worker clusterconntest.Node
	addr            string
}

// serve starts a manager whose port serves content (the peer service)
// and an index.
func serve(t testing.TB, c Content) (*swarm, *Index) {
	t.Helper()
	s := &swarm{root: clusterconntest.NewRoot(t)}
	s.manager = clusterconntest.NewNode(t, s.root, ca.ManagerRole)
	s.worker = clusterconntest.NewNode(t, s.root, ca.WorkerRole)
	mux := clusterconntest.Listen(t, s.root, s.manager)
	index := NewIndex()
	server := NewServer(c)
	clusterconntest.ServeGRPC(t, mux, Policy(), func(g grpc.ServiceRegistrar) {
		server.Register(g)
		index.Register(g)
	})
	serveBlobs(t, server, mux, nil)
	s.addr = mux.Addr().String()
	return s, index
}

// serveBlobs serves blobs on mux until the test ends.
func serveBlobs(t testing.TB, s *Server, mux *clusterconn.Mux, allow func(ca.Identity) error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeBlobs(mux.Blob(), allow)
	}()
	t.Cleanup(func() {
		mux.Close()
		<-done
	})
}

// dialBlob opens a blob connection to holder h as node, checking the
// server is h's node (or a manager, when h names none), as a node does.
func (s *swarm) dialBlob(node clusterconntest.Node, h Holder) (net.Conn, error) {
	conf := clusterconn.ClientTLS(s.root.Trust(), &node.Cert, clusterconn.ProtoBlob)
	if h.NodeID != "" {
		conf = clusterconn.ClientTLSNode(s.root.Trust(), &node.Cert, clusterconn.ProtoBlob, h.NodeID)
	}
	return clusterconn.DialBlob(context.Background(), h.Addr, conf)
}

// blobs is what a resolver fetching from the manager as the worker dials.
func (s *swarm) blobs(ctx context.Context) (net.Conn, error) {
	return s.dialBlob(s.worker, Holder{NodeID: s.manager.ID, Addr: s.addr})
}

// resolver is a resolver over the manager's port for the worker, with no
// other holder than the manager.
func (s *swarm) resolver(t testing.TB, cc grpc.ClientConnInterface, d digest.Digest) *resolver {
	h := Holder{NodeID: s.manager.ID, Addr: s.addr, Manager: true}
	return &resolver{
		cc:     cc,
		holder: h,
		dial: func(ctx context.Context, h Holder) (net.Conn, error) {
			return s.dialBlob(s.worker, h)
		},
		others: func(context.Context) ([]Holder, error) { return []Holder{h}, nil },
		digest: d,
		log:    testLogger(t),
	}
}

// dialAs connects to the node nodeID at addr with node's certificate,
// checking the server is nodeID, as a holder is dialled.
func (s *swarm) dialAs(node clusterconntest.Node, nodeID, addr string) (*grpc.ClientConn, error) {
	conf := clusterconn.ClientTLSNode(s.root.Trust(), &node.Cert, clusterconn.ProtoGRPC, nodeID)
	return clusterconn.DialGRPC(context.Background(), addr, func() *tls.Config { return conf })
}

// client is the worker's Client, fetching into dst.
func (s *swarm) client(t testing.TB, dst *images.Store) *Client {
	return &Client{
		Self:     s.worker.ID,
		Managers: func() []string { return []string{s.addr} },
		DialManager: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return clusterconntest.Dial(t, s.root, addr, &s.worker), nil
		},
		DialNode: func(ctx context.Context, h Holder) (*grpc.ClientConn, error) {
			return s.dialAs(s.worker, h.NodeID, h.Addr)
		},
		DialBlob: func(ctx context.Context, h Holder) (net.Conn, error) {
			return s.dialBlob(s.worker, h)
		},
		Images: dst,
		Logger: testLogger(t),
	}
}

// loaded loads a fresh image as ref into a new store and returns the
// store, the image and the digest of its top.
func loaded(t *testing.T, ref string) (*images.Store, v1.Image, digest.Digest) {
	t.Helper()
	src := newStore(t, serving)
	img := testimage.Image(t, testimage.WithEnv("PEER="+t.Name()))
	f, err := os.Open(testimage.DockerSave(t, ref, img))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := src.Load(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	pinned, ok, err := src.LocalDigest(t.Context(), ref)
	if err != nil || !ok {
		t.Fatalf("LocalDigest(%s) = %q, %v, %v", ref, pinned, ok, err)
	}
	_, d, _ := strings.Cut(pinned, "@")
	return src, img, digest.Digest(d)
}

func TestFetchFromManager(t *testing.T) {
	src, _, d := loaded(t, "app:v1")
	s, _ := serve(t, src)
	held, err := src.Held(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cc := clusterconntest.Dial(t, s.root, s.addr, &s.manager)
	if err := cc.Invoke(t.Context(), MethodAnnounce, &AnnounceRequest{Addr: s.addr, Images: held}, new(AnnounceResponse)); err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{"app:v1@" + d.String(), "app:v1"} {
		t.Run(ref, func(t *testing.T) {
			dst := newStore(t, fetching)
			dst.SetPeers(s.client(t, dst))
			before := fetchesFromManagers(t)
			img, err := dst.Ensure(t.Context(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if img.Target().Digest != d {
				t.Errorf("fetched %s, want %s", img.Target().Digest, d)
			}
			cfg, err := dst.Config(t.Context(), img)
			if err != nil {
				t.Fatal(err)
			}
			if want := "PEER=" + t.Name()[:strings.Index(t.Name(), "/")]; !strings.Contains(strings.Join(cfg.Env, " "), want) {
				t.Errorf("config env %v, want it to hold %s", cfg.Env, want)
			}
			if after := fetchesFromManagers(t); after != before+1 {
				t.Errorf("fetches from a manager went from %v to %v, want one more", before, after)
			}
			// Now it holds the image, and serves it on.
			if _, err := dst.Target(t.Context(), d); err != nil {
				t.Errorf("the fetching node does not hold %s whole: %v", d, err)
			}
		})
	}
}

// tampered serves a Content whose blob bad has one byte changed.
type tampered struct {
	Content
	bad digest.Digest
}

func (c tampered) Blob(ctx context.Context, d digest.Digest) (content.ReaderAt, error) {
	ra, err := c.Content.Blob(ctx, d)
	if err != nil || d != c.bad {
		return ra, err
	}
	return flipped{ra}, nil
}

// flipped changes the blob's 10th byte.
type flipped struct{ content.ReaderAt }

func (f flipped) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.ReaderAt.ReadAt(p, off)
	if off <= 10 && off+int64(n) > 10 {
		p[10-off] ^= 0xff
	}
	return n, err
}

func TestTamperedBlobRefused(t *testing.T) {
	src, img, d := loaded(t, "app:v1")
	// The config: the test's own (the layers are busybox's, which the
	// fetching containerd may hold already from another test).
	config, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := serve(t, tampered{Content: src, bad: digest.Digest(config.String())})
	cc := clusterconntest.Dial(t, s.root, s.addr, &s.worker)
	dst := newStore(t, fetching)
	_, err = dst.PullFrom(t.Context(), "app:v1@"+d.String(), s.resolver(t, cc, d))
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("PullFrom a peer that changed a layer: got %v, want a digest mismatch", err)
	}
	if _, err := dst.Local(t.Context(), "app:v1@"+d.String()); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("after a refused fetch the image is there: %v", err)
	}
}

func TestPeerAnswersChecked(t *testing.T) {
	want := digest.FromString("top")
	index := ocispec.MediaTypeImageIndex
	tests := []struct {
		name string
		desc ocispec.Descriptor
		ok   bool
	}{
		{"as asked", ocispec.Descriptor{MediaType: index, Digest: want, Size: 100}, true},
		{"another digest", ocispec.Descriptor{MediaType: index, Digest: digest.FromString("other"), Size: 100}, false},
		{"a layer", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: want, Size: 100}, false},
		{"empty", ocispec.Descriptor{MediaType: index, Digest: want}, false},
		{"huge", ocispec.Descriptor{MediaType: index, Digest: want, Size: 1 << 40}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTop(tt.desc, want)
			if (err == nil) != tt.ok {
				t.Errorf("checkTop: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestFetchNeedsANodeCertificate(t *testing.T) {
	src, _, d := loaded(t, "app:v1")
	s, _ := serve(t, src)
	req := &FetchRequest{Digest: d}
	// Without a certificate: the handshake passes (a joining node has
	// none), the holder refuses.
	conn, err := clusterconn.DialBlob(t.Context(), s.addr, clusterconn.ClientTLSNode(s.root.Trust(), nil, clusterconn.ProtoBlob, s.manager.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := openBlob(conn, req, 0); !errdefs.Is(err, errdefs.KindForbidden) {
		t.Errorf("a blob without a certificate: got %v, want forbidden", err)
	}
	// A certificate of another swarm's root: the handshake fails, or the
	// holder closes the connection.
	other := clusterconntest.NewNode(t, clusterconntest.NewRoot(t), ca.WorkerRole)
	if conn, err := clusterconn.DialBlob(t.Context(), s.addr, clusterconn.ClientTLSNode(s.root.Trust(), &other.Cert, clusterconn.ProtoBlob, s.manager.ID)); err == nil {
		if err := openBlob(conn, req, 0); err == nil {
			t.Error("a node of another swarm got a blob")
		}
		conn.Close()
	}
	// A holder is dialled by its node ID: a server that is another node
	// is refused, whatever root it chains to.
	if _, err := s.dialAs(s.worker, s.worker.ID, s.addr); err == nil {
		t.Errorf("dialling node %s reached node %s", s.worker.ID, s.manager.ID)
	}
	if _, err := s.dialBlob(s.worker, Holder{NodeID: s.worker.ID, Addr: s.addr}); err == nil {
		t.Errorf("a blob connection to node %s reached node %s", s.worker.ID, s.manager.ID)
	}
	if cc, err := s.dialAs(s.worker, s.manager.ID, s.addr); err != nil {
		t.Errorf("dialling the manager by its node ID: %v", err)
	} else {
		cc.Close()
	}
}

// fetchesFromManagers reads shoal_image_peer_fetches_total{source="manager",result="ok"}.
func fetchesFromManagers(t *testing.T) float64 {
	var m dto.Metric
	if err := metrics.ImagePeerFetches.WithLabelValues("manager", "ok").Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestFetchBeforeAnnounce fetches an image pinned to a digest no node
// announced yet: it was loaded on the manager a moment ago.
func TestFetchBeforeAnnounce(t *testing.T) {
	src, _, d := loaded(t, "app:v1")
	s, _ := serve(t, src)
	dst := newStore(t, fetching)
	dst.SetPeers(s.client(t, dst))
	img, err := dst.Ensure(t.Context(), "app:v1@"+d.String())
	if err != nil {
		t.Fatal(err)
	}
	if img.Target().Digest != d {
		t.Errorf("fetched %s, want %s", img.Target().Digest, d)
	}
}

// A blob of another namespace of the same containerd is in the files a
// store reads, but not that store's to serve.
func TestBlobOfAnotherNamespaceRefused(t *testing.T) {
	src, _, d := loaded(t, "app:v1")
	ra, err := src.Blob(t.Context(), d)
	if err != nil {
		t.Fatalf("the store that loaded %s cannot read it: %v", d, err)
	}
	ra.Close()
	other := newStore(t, serving)
	if ra, err := other.Blob(t.Context(), d); !errdefs.Is(err, errdefs.KindNotFound) {
		if err == nil {
			ra.Close()
		}
		t.Fatalf("another namespace's store read %s: %v, want not found", d, err)
	}
}
