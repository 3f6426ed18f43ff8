package forward

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/limits"
)

func TestIsClusterWrite(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{"POST", "/v1.50/services/create", true},
		{"POST", "/services/abc/update", true},
		{"DELETE", "/v1.41/nodes/xyz", true},
		{"POST", "/v1.41/swarm/update", true},
		{"GET", "/v1.41/services", false},
		{"HEAD", "/_ping", false},
		{"POST", "/v1.41/swarm/init", false},
		{"POST", "/v1.41/swarm/leave", false},
		{"POST", "/v1.41/containers/abc/exec", false},
		{"POST", "/v1.41/images/create", false},
		{"POST", "/servicesX", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if got := isClusterWrite(r); got != tt.want {
			t.Errorf("isClusterWrite(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}

type testRouter struct {
	addr    string
	forward bool
	dial    func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	waited  uint64
}

func (r *testRouter) Route() (string, bool) { return r.addr, r.forward }
func (r *testRouter) Dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	return r.dial(ctx, addr)
}
func (r *testRouter) WaitIndex(_ context.Context, idx uint64) error { r.waited = idx; return nil }

// ReadIndex asks the leader over gRPC, as a follower does.
func (r *testRouter) ReadIndex(ctx context.Context) (uint64, error) {
	if r.addr == "" {
		return 0, errors.New("no leader is known")
	}
	cc, err := r.dial(ctx, r.addr)
	if err != nil {
		return 0, err
	}
	return AskReadIndex(ctx, cc)
}

func TestIsClusterRead(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v1.41/services", true},
		{"GET", "/services/abc", true},
		{"GET", "/v1.50/tasks?filters=x", true},
		{"HEAD", "/nodes/x", true},
		{"GET", "/v1.41/swarm", true},
		{"GET", "/networks", true},
		{"GET", "/v1.41/services/abc/logs", true},
		{"GET", "/v1.41/swarm/unlockkey", false},
		{"GET", "/v1.41/swarm/update", false},
		{"GET", "/info", false},
		{"GET", "/events", false},
		{"GET", "/containers/json", false},
		{"POST", "/services/create", false},
		{"GET", "/servicesX", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if got := isClusterRead(r); got != tt.want {
			t.Errorf("isClusterRead(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestFollowerWritesAreAnsweredByTheLeader(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	leader := clusterconntest.NewNode(t, root, ca.ManagerRole)
	follower := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, leader)
	var leaderSaw string
	leaderAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		leaderSaw = r.Method + " " + r.URL.RequestURI() + " " + string(body) + " forwarded=" + r.Header.Get(headerForwarded)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ID":"new"}`)
	})
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) {
		r.RegisterService(&serviceDesc, NewServer(leaderAPI, func() uint64 { return 42 }, func(context.Context) (uint64, error) { return 43, nil }))
	})
	rt := &testRouter{addr: mux.Addr().String(), forward: true, dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
		return clusterconntest.Dial(t, root, addr, &follower), nil
	}}
	local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	h := Middleware(local, func() Router { return rt })

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.50/services/create?x=1", strings.NewReader(`{"Name":"web"}`)))
	if rec.Code != http.StatusCreated || rec.Body.String() != `{"ID":"new"}` {
		t.Fatalf("got %d %q, want the leader's 201 answer", rec.Code, rec.Body.String())
	}
	if want := `POST /v1.50/services/create?x=1 {"Name":"web"} forwarded=1`; leaderSaw != want {
		t.Fatalf("leader saw %q, want %q", leaderSaw, want)
	}
	if rt.waited != 42 {
		t.Fatalf("follower waited for index %d, want the leader's 42", rt.waited)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1.50/services", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("a read got %d, want it served locally", rec.Code)
	}
	if rt.waited != 43 {
		t.Fatalf("a read waited for index %d, want the leader's read index 43", rt.waited)
	}

	rt.addr = ""
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/v1.50/services/create", strings.NewReader(`{}`)),
		httptest.NewRequest("GET", "/v1.50/services", nil),
	} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "The swarm does not have a leader") {
			t.Fatalf("%s without a leader got %d %q, want 503 saying there is no leader", req.Method, rec.Code, rec.Body.String())
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1.50/containers/json", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("a local read without a leader got %d, want it served", rec.Code)
	}
}

// A leader that cannot confirm its leadership refuses the read index,
// and the follower refuses the read rather than answer from its state.
func TestReadRefusedWhenTheLeaderCannotConfirm(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	leader := clusterconntest.NewNode(t, root, ca.ManagerRole)
	follower := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, leader)
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) {
		r.RegisterService(&serviceDesc, NewServer(http.NotFoundHandler(), func() uint64 { return 0 }, func(context.Context) (uint64, error) {
			return 0, errors.New("quorum lost")
		}))
	})
	rt := &testRouter{addr: mux.Addr().String(), forward: true, dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
		return clusterconntest.Dial(t, root, addr, &follower), nil
	}}
	served := false
	h := Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }), func() Router { return rt })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1.41/nodes", nil))
	if served || rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "quorum lost") {
		t.Fatalf("got %d %q (served locally: %v), want 503 with the leader's reason", rec.Code, rec.Body.String(), served)
	}
}

func TestWorkerCannotForward(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	mux := clusterconntest.Listen(t, root, clusterconntest.NewNode(t, root, ca.ManagerRole))
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) {
		r.RegisterService(&serviceDesc, NewServer(http.NotFoundHandler(), func() uint64 { return 0 }, func(context.Context) (uint64, error) { return 1, nil }))
	})
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	cc := clusterconntest.Dial(t, root, mux.Addr().String(), &worker)
	if err := cc.Invoke(t.Context(), MethodHTTP, &Request{Method: "POST", URL: "/services/create"}, new(Response)); err == nil {
		t.Fatal("a worker forwarded a write")
	}
	if _, err := AskReadIndex(t.Context(), cc); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a worker asked for the read index: got %v, want PermissionDenied", err)
	}
}

// A manager whose API handler is not set yet refuses forwarded writes
// with Unavailable (the follower retries) instead of crashing.
func TestServerWithoutAPI(t *testing.T) {
	s := NewServer(nil, func() uint64 { return 0 }, nil)
	_, err := s.HTTP(t.Context(), &Request{Method: "POST", URL: "/services/create"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
}

func TestServerTakesARequestWithoutHeader(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	s := NewServer(api, func() uint64 { return 7 }, nil)
	resp, err := s.HTTP(t.Context(), &Request{Method: "POST", URL: "/services/create"})
	if err != nil || resp.Status != http.StatusTeapot {
		t.Fatalf("got %+v, %v; want the handler's answer", resp, err)
	}
}

// A body up to limits.MaxRequestBody reaches the leader whole, through a
// server with ServerOptions; one byte more is refused on the follower,
// naming the limit, and never sent.
func TestForwardedBodyLimit(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	leader := clusterconntest.NewNode(t, root, ca.ManagerRole)
	follower := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, leader)
	var got int
	leaderAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = len(body)
		w.WriteHeader(http.StatusCreated)
	})
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) {
		r.RegisterService(&serviceDesc, NewServer(leaderAPI, func() uint64 { return 1 }, nil))
	}, ServerOptions()...)
	rt := &testRouter{addr: mux.Addr().String(), forward: true, dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
		return clusterconntest.Dial(t, root, addr, &follower), nil
	}}
	h := Middleware(http.NotFoundHandler(), func() Router { return rt })

	for _, tt := range []struct {
		name string
		size int
		code int
		got  int
	}{
		{"at the limit", limits.MaxRequestBody, http.StatusCreated, limits.MaxRequestBody},
		{"past the limit", limits.MaxRequestBody + 1, http.StatusRequestEntityTooLarge, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got = 0
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.50/configs/create", strings.NewReader(strings.Repeat("x", tt.size))))
			if rec.Code != tt.code || got != tt.got {
				t.Fatalf("got %d %q with %d bytes at the leader, want %d with %d", rec.Code, rec.Body.String(), got, tt.code, tt.got)
			}
			if tt.code == http.StatusRequestEntityTooLarge && !strings.Contains(rec.Body.String(), "the limit is 4194304 bytes (4 MiB)") {
				t.Fatalf("got %q, want a message naming the limit", rec.Body.String())
			}
		})
	}
}
