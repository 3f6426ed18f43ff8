package converge

import (
	"bytes"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
)

type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func newAPI(t *testing.T, srv *fakeapi.Server) *client.Client {
	t.Helper()
	api, err := client.New(client.WithHost(srv.Host()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return api
}

func webService(srv *fakeapi.Server) {
	one := uint64(1)
	srv.Nodes = []swarm.Node{{ID: "node1", Status: swarm.NodeStatus{State: swarm.NodeStateReady}}}
	srv.Services = []swarm.Service{{
		ID:   "svc1",
		Meta: swarm.Meta{Version: swarm.Version{Index: 1}},
		Spec: swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: "web"},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
			UpdateConfig: &swarm.UpdateConfig{Monitor: 400 * time.Millisecond},
		},
	}}
}

func TestWaitConverges(t *testing.T) {
	srv := fakeapi.New(t)
	webService(srv)
	srv.BeforeTasks = fakeapi.Orchestrate
	var out bytes.Buffer
	err := Wait(t.Context(), newAPI(t, srv), "web", NewDisplay(&out, false, 0), &stepClock{now: srv.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !bytes.HasSuffix([]byte(got), []byte("verify: Service converged\n")) {
		t.Errorf("got output\n%s\nwant it to end converged", got)
	}
	for _, req := range srv.Find("GET", "/tasks") {
		if got := req.Query.Get("filters"); got != `{"_up-to-date":{"true":true},"service":{"svc1":true}}` {
			t.Fatalf("got task filters %s, want the service's up-to-date tasks by ID", got)
		}
	}
}

func TestWaitInterrupted(t *testing.T) {
	srv := fakeapi.New(t)
	webService(srv)
	interrupt := make(chan struct{})
	close(interrupt)
	var out bytes.Buffer
	// A clock that never fires, so only the interrupt can end the wait.
	clock := &stallClock{now: srv.Now}
	if err := Wait(t.Context(), newAPI(t, srv), "web", NewDisplay(&out, false, 0), clock, interrupt); err != nil {
		t.Fatal(err)
	}
	want := "overall progress: 0 out of 1 tasks\nOperation continuing in background.\nUse `shoal service ps web` to check progress.\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

type stallClock struct{ now time.Time }

func (c *stallClock) Now() time.Time                       { return c.now }
func (c *stallClock) After(time.Duration) <-chan time.Time { return nil }

func TestWaitServiceGone(t *testing.T) {
	srv := fakeapi.New(t)
	var out bytes.Buffer
	err := Wait(t.Context(), newAPI(t, srv), "web", NewDisplay(&out, false, 0), &stepClock{now: srv.Now}, nil)
	if err == nil || out.Len() != 0 {
		t.Errorf("got err %v and output %q, want the lookup's error and nothing shown", err, out.String())
	}
}
