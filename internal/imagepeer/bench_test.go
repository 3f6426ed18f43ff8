package imagepeer

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// BenchmarkFetch is what bench/imagepeer.sh measures without the cluster
// around it, so that a profile shows only the transfer: four nodes get a
// ~50 MB image (busybox and five 10 MB layers of random bytes) at once,
// from one node that holds it (peer) or from a registry on loopback
// (registry), each into a store of its own, unpacked. Run it under the
// e2e lock (it starts two containerds):
//
//	flock /tmp/shoal-e2e.lock go test -run '^$' -bench Fetch -benchtime 3x ./internal/imagepeer/
func BenchmarkFetch(b *testing.B) {
	const fetchers = 4
	img := testimage.Image(b)
	for range 5 {
		layer, err := random.Layer(10<<20, types.DockerLayer)
		if err != nil {
			b.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("peer", func(b *testing.B) {
		src, d := loadedImage(b, "big:v1", img)
		s, _ := serve(b, src)
		ref := "big:v1@" + d.String()
		for b.Loop() {
			fetchAll(b, fetchers, func(dst *images.Store) error {
				c := s.client(b, dst)
				h := Holder{NodeID: s.manager.ID, Addr: s.addr, Manager: true}
				_, err := c.fetchFrom(b.Context(), h, ref, d, func(context.Context) ([]Holder, error) { return []Holder{h}, nil })
				return err
			})
		}
		b.SetBytes(fetchers * imageSize(b, img))
	})
	b.Run("registry", func(b *testing.B) {
		ref := testimage.Push(b, testimage.ServeRegistry(b), "big:v1", img)
		for b.Loop() {
			fetchAll(b, fetchers, func(dst *images.Store) error {
				_, err := dst.Pull(b.Context(), ref, nil)
				return err
			})
		}
		b.SetBytes(fetchers * imageSize(b, img))
	})
}

// fetchAll runs fetch for n new stores of the fetching containerd at once.
func fetchAll(b *testing.B, n int, fetch func(dst *images.Store) error) {
	b.StopTimer()
	stores := make([]*images.Store, n)
	for i := range stores {
		stores[i] = newStore(b, fetching)
	}
	b.StartTimer()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, dst := range stores {
		wg.Go(func() { errs[i] = fetch(dst) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// loadedImage docker-loads img as ref into a new store of the serving
// containerd; the store and the digest of the image's top.
func loadedImage(b testing.TB, ref string, img v1.Image) (*images.Store, digest.Digest) {
	src := newStore(b, serving)
	f, err := os.Open(testimage.DockerSave(b, ref, img))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := src.Load(b.Context(), f); err != nil {
		b.Fatal(err)
	}
	pinned, ok, err := src.LocalDigest(b.Context(), ref)
	if err != nil || !ok {
		b.Fatalf("LocalDigest(%s) = %q, %v, %v", ref, pinned, ok, err)
	}
	_, d, _ := strings.Cut(pinned, "@")
	return src, digest.Digest(d)
}

func imageSize(b testing.TB, img v1.Image) int64 {
	layers, err := img.Layers()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			b.Fatal(err)
		}
		n += size
	}
	return n
}
