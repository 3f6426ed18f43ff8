package imagepeer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// counted counts the bytes of blobs a holder read to send.
type counted struct {
	Content
	bytes atomic.Int64
}

func (c *counted) Blob(ctx context.Context, d digest.Digest) (content.ReaderAt, error) {
	ra, err := c.Content.Blob(ctx, d)
	if err != nil {
		return nil, err
	}
	return countedReader{ra, &c.bytes}, nil
}

type countedReader struct {
	content.ReaderAt
	n *atomic.Int64
}

func (r countedReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.ReaderAt.ReadAt(p, off)
	r.n.Add(int64(n))
	return n, err
}

// burst is what one burst of fetches gave: the copies of the image each
// holder served (its bytes sent over the image's; a fetch cut short and
// resumed elsewhere counts in part), and how long the burst took.
type burst struct {
	first  float64
	others []float64
	took   time.Duration
}

// fetchBurst has n nodes, each a containerd of its own, fetch img at once
// from one manager that holds it and serves at most slots blobs at once. A node that has fetched the image
// announces it at once and serves it on, with the usual slots: what a
// node does within limits.PeerCheckPeriod.
func fetchBurst(t testing.TB, img v1.Image, n, slots int) burst {
	t.Helper()
	ctx := t.Context()
	src, d := loadedImage(t, "burst:v1", img)
	size := float64(imageSize(t, img))
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, manager)
	first := &counted{Content: src}
	server := NewServer(first)
	server.serving = make(chan struct{}, slots)
	index := NewIndex()
	clusterconntest.ServeGRPC(t, mux, Policy(), func(g grpc.ServiceRegistrar) {
		server.Register(g)
		index.Register(g)
	})
	serveBlobs(t, server, mux, nil)
	managerAddr := mux.Addr().String()

	// Every node's containerd, started before the clock runs.
	type node struct {
		id      clusterconntest.Node
		store   *images.Store
		content *counted
		addr    string
	}
	nodes := make([]*node, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range nodes {
		wg.Go(func() {
			c, contentRoot, stop, err := startContainerd(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(stop)
			nodes[i] = &node{store: images.New(c, images.Options{Namespace: "burst", ContentRoot: contentRoot, Logger: testLogger(t)})}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	conf := func(nd clusterconntest.Node, proto string, nodeID string) *tls.Config {
		if nodeID == "" {
			return clusterconn.ClientTLS(root.Trust(), &nd.Cert, proto)
		}
		return clusterconn.ClientTLSNode(root.Trust(), &nd.Cert, proto, nodeID)
	}
	announce := func(ctx context.Context, nd clusterconntest.Node, addr string, held []images.Held) error {
		cc, err := clusterconn.DialGRPC(ctx, managerAddr, func() *tls.Config { return conf(nd, clusterconn.ProtoGRPC, "") })
		if err != nil {
			return err
		}
		defer cc.Close()
		return cc.Invoke(ctx, MethodAnnounce, &AnnounceRequest{Addr: addr, Images: held}, new(AnnounceResponse))
	}
	held, err := src.Held(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := announce(ctx, manager, managerAddr, held); err != nil {
		t.Fatal(err)
	}
	clients := make([]*Client, n)
	for i, nd := range nodes {
		nd.id = clusterconntest.NewNode(t, root, ca.WorkerRole)
		m := clusterconntest.Listen(t, root, nd.id)
		nd.content = &counted{Content: nd.store}
		s := NewServer(nd.content)
		clusterconntest.ServeGRPC(t, m, PeerPolicy(), s.Register)
		serveBlobs(t, s, m, nil)
		nd.addr = m.Addr().String()
		clients[i] = &Client{
			Self:     nd.id.ID,
			Managers: func() []string { return []string{managerAddr} },
			DialManager: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
				return clusterconn.DialGRPC(ctx, addr, func() *tls.Config { return conf(nd.id, clusterconn.ProtoGRPC, "") })
			},
			DialNode: func(ctx context.Context, h Holder) (*grpc.ClientConn, error) {
				return clusterconn.DialGRPC(ctx, h.Addr, func() *tls.Config { return conf(nd.id, clusterconn.ProtoGRPC, h.NodeID) })
			},
			DialBlob: func(ctx context.Context, h Holder) (net.Conn, error) {
				return clusterconn.DialBlob(ctx, h.Addr, conf(nd.id, clusterconn.ProtoBlob, h.NodeID))
			},
			Images: nd.store,
			Logger: testLogger(t),
		}
	}

	ref := "burst:v1@" + d.String()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	for i, nd := range nodes {
		wg.Go(func() {
			if _, err := clients[i].Fetch(ctx, ref); err != nil {
				errs[i] = err
				return
			}
			held, err := nd.store.Held(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = announce(ctx, nd.id, nd.addr, held)
		})
	}
	wg.Wait()
	b := burst{took: time.Since(start), first: float64(first.bytes.Load()) / size}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	for _, nd := range nodes {
		if _, err := nd.store.Target(ctx, d); err != nil {
			t.Errorf("node %s does not hold %s whole: %v", nd.id.ID, d, err)
		}
		b.others = append(b.others, float64(nd.content.bytes.Load())/size)
	}
	return b
}

// burstImage is busybox and three layers of 8 MB of random bytes: enough
// that a copy takes longer than a holder's wait for a slot.
func burstImage(t testing.TB) v1.Image {
	img := testimage.Image(t, testimage.WithEnv("BURST="+t.Name()))
	for range 3 {
		layer, err := random.Layer(8<<20, types.DockerLayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// TestBurstSpreads has twelve nodes need an image at once that only a
// manager with one serving slot holds: the manager refuses those it
// cannot serve as busy, they ask again, and get the image from the nodes
// that finished first. Queueing at the manager instead (as before) makes
// it serve all twelve. Twelve nodes and one slot, not fewer nodes or more
// slots, leave a margin: nodes that fetch blob by blob finish close
// together, and the manager served 5.9–8.7 copies here (with 8 nodes and
// 2 slots, up to 7.6 of 8 on a loaded machine).
func TestBurstSpreads(t *testing.T) {
	const n = 12
	b := fetchBurst(t, burstImage(t), n, 1)
	t.Logf("%d nodes: the manager served %.1f copies, the nodes %.1f; %v", n, b.first, b.others, b.took.Round(time.Millisecond))
	// A copy cut short by a refusal and resumed counts in part; nothing
	// of the kind happens to a node that queues.
	if b.first >= n {
		t.Errorf("the manager served %.1f copies to %d nodes; want fewer, the rest from the nodes that finished first", b.first, n)
	}
	total := b.first
	for _, c := range b.others {
		total += c
	}
	if total < n-0.01 {
		t.Errorf("%.2f copies served in all to %d nodes", total, n)
	}
}

// BenchmarkBurst measures fetchBurst: n nodes need a ~25 MB image at once
// that one manager with 2 serving slots holds. It reports the copies the
// manager served and those the nodes served each other (a copy cut short
// counts in part). Under the e2e lock (it starts n+2 containerds), once
// per case:
//
//	flock /tmp/shoal-e2e.lock go test -run '^$' -bench Burst -benchtime 1x ./internal/imagepeer/
func BenchmarkBurst(b *testing.B) {
	img := burstImage(b)
	for _, n := range []int{8, 12} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var last burst
			for b.Loop() {
				last = fetchBurst(b, img, n, 2)
			}
			var others float64
			for _, c := range last.others {
				others += c
			}
			b.ReportMetric(last.first, "manager-copies")
			b.ReportMetric(others, "node-copies")
			b.ReportMetric(last.took.Seconds(), "s")
		})
	}
}
