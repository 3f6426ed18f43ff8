package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/apitls"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// testCluster is a one-manager swarm over a real replicated store; with
// manager false it answers as a node outside any swarm.
type testCluster struct {
	api     *controlapi.API
	store   *store.Store
	manager bool
}

func (c *testCluster) Init(ctx context.Context, req swarm.InitRequest) (string, error) {
	return "", errdefs.Unavailable(`This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`)
}
func (c *testCluster) Join(ctx context.Context, req swarm.JoinRequest) error {
	return errdefs.Unavailable(`This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`)
}
func (c *testCluster) Leave(ctx context.Context, force bool) error {
	return errdefs.Unavailable("You are attempting to leave the swarm on a node that is participating as a manager. Use `--force` to ignore this message.")
}
func (c *testCluster) Unlock(ctx context.Context, key string) error {
	return errdefs.Conflict("swarm is not locked")
}
func (c *testCluster) Info(ctx context.Context) swarm.Info {
	if !c.manager {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	return swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, NodeID: "node1", ControlAvailable: true, Nodes: 1, Managers: 1}
}
func (c *testCluster) Control() (*controlapi.API, error) {
	if !c.manager {
		return nil, errdefs.Unavailable(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
	return c.api, nil
}

// newTestCluster returns the swarm as swarm init leaves it: with its
// ingress network.
func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	s := consensustest.NewStore(t)
	ingress, err := controlapi.IngressNetwork(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(t.Context(), func(tx *store.WriteTx) error { return tx.Put(ingress) }); err != nil {
		t.Fatal(err)
	}
	return &testCluster{api: controlapi.New(s), store: s, manager: true}
}

// serve starts a Server on a unix socket and returns the socket's path.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
	return serveServer(t, New(cfg))
}

// serveServer serves s on a unix socket and returns the socket's path.
func serveServer(t testing.TB, s *Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := apitls.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sock
}

type apiClient struct {
	t    *testing.T
	http *http.Client
}

func newClient(t *testing.T, sock string) *apiClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{t: t, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

// message is the error message of a JSON error body.
func (r response) message() string {
	var m struct{ Message string }
	json.Unmarshal(r.body, &m)
	return m.Message
}

func (c *apiClient) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, "http://api.moby.localhost"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: data}
}

// wantError checks an error response's status and message.
func wantError(t *testing.T, r response, code int, msg string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.message(), msg) {
		t.Fatalf("got %d %s, want %d with a message containing %q", r.code, r.body, code, msg)
	}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// storeState is the whole store, to check that refused requests change
// nothing.
func storeState(t *testing.T, s *store.Store) string {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
