package images

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/client"

	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/privatecontainerd"
)

// testClient talks to the containerd that all tests of the package share;
// each test has a namespace of its own.
var testClient *client.Client

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "shoal-images-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	// Unix socket paths must be short: t.TempDir's may not be.
	state, err := os.MkdirTemp("/run", "shoal-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(state)

	p, err := privatecontainerd.Start(ctx, privatecontainerd.Config{Root: root, State: state})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Stop(ctx)
	testClient, err = client.New(p.Address())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testClient.Close()
	return m.Run()
}

// newStore returns a Store in a namespace of the test's own.
func newStore(t *testing.T) *Store {
	t.Helper()
	return New(testClient, Options{
		Namespace: "test-" + strings.ToLower(identity.NewID()),
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
