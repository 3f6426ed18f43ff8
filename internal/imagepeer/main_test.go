package imagepeer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/client"

	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/privatecontainerd"
)

// Two containerds stand for two nodes: one containerd shares blobs
// between its namespaces, so a fetch within one would copy nothing.
var serving, fetching *client.Client

// servingContent is the serving containerd's content store directory,
// which its stores read blobs from, as a node's do.
var servingContent string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	var err error
	for _, c := range []**client.Client{&serving, &fetching} {
		var stop func()
		var content string
		*c, content, stop, err = startContainerd(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stop()
		if *c == serving {
			servingContent = content
		}
	}
	return m.Run()
}

func startContainerd(ctx context.Context) (*client.Client, string, func(), error) {
	root, err := os.MkdirTemp("", "shoal-imagepeer-test-")
	if err != nil {
		return nil, "", nil, err
	}
	// Unix socket paths must be short: t.TempDir's may not be.
	state, err := os.MkdirTemp("/run", "shoal-test-")
	if err != nil {
		os.RemoveAll(root)
		return nil, "", nil, err
	}
	cleanup := func() { os.RemoveAll(state); os.RemoveAll(root) }
	p, err := privatecontainerd.Start(ctx, privatecontainerd.Config{Root: root, State: state})
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	c, err := client.New(p.Address())
	if err != nil {
		p.Stop(ctx)
		cleanup()
		return nil, "", nil, err
	}
	return c, p.ContentRoot(), func() { c.Close(); p.Stop(ctx); cleanup() }, nil
}

// newStore returns an image store of c in a namespace of the test's own.
func newStore(t testing.TB, c *client.Client) *images.Store {
	t.Helper()
	opts := images.Options{
		Namespace: "test-" + strings.ToLower(identity.NewID()),
		Logger:    testLogger(t),
	}
	if c == serving {
		opts.ContentRoot = servingContent
	}
	return images.New(c, opts)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
