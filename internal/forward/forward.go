// Package forward sends Docker API writes that reach a follower manager to
// the raft leader, over the cluster port, and answers them as the leader
// did. Only the leader can commit, and a write decided on a follower's
// store could be decided on stale state; forwarding the whole request
// keeps one code path for every write endpoint.
//
// Reads of cluster objects are served by the manager that gets them, once
// its store has applied the leader's read index (etcd's ReadIndex): a read
// sees every write acknowledged before it began, on any manager, and a
// manager that cannot reach a leader refuses reads as SwarmKit does
// rather than answer from a state of unknown age.
package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/rpc"
)

// MethodHTTP is the full name of the forwarding call.
const MethodHTTP = "/shoal.Forward/HTTP"

// MethodReadIndex is the full name of the call that asks the leader for
// the index a linearizable read must see.
const MethodReadIndex = "/shoal.Forward/ReadIndex"

// NoLeader is dockerd's answer to a swarm read or write on a manager that
// has no leader to reach.
const NoLeader = "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."

// headerForwarded marks a request that was forwarded once, so that a
// leader that lost leadership meanwhile does not forward it again.
const headerForwarded = "X-Shoal-Forwarded"

// Policy: only managers forward.
func Policy() ca.Policy {
	return ca.Policy{MethodHTTP: {ca.ManagerRole}, MethodReadIndex: {ca.ManagerRole}}
}

// Request is an HTTP request, whole.
type Request struct {
	Method string
	URL    string // path and query
	Header http.Header
	Body   []byte
}

// Response is the leader's answer, with the raft index its store had
// applied when it answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Index  uint64
}

// ReadIndexRequest asks the leader for its read index.
type ReadIndexRequest struct{}

// ReadIndexResponse is the store index a read must wait for.
type ReadIndexResponse struct {
	Index uint64
}

// Server answers forwarded requests with the local API handler.
type Server struct {
	api       http.Handler
	index     func() uint64
	readIndex func(context.Context) (uint64, error)
}

// NewServer serves forwarded requests through api; index reports the
// store's applied raft index, readIndex the leader's read index.
func NewServer(api http.Handler, index func() uint64, readIndex func(context.Context) (uint64, error)) *Server {
	return &Server{api: api, index: index, readIndex: readIndex}
}

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { g.RegisterService(&serviceDesc, s) }

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "shoal.Forward",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "HTTP", Handler: rpc.Unary(MethodHTTP, (*Server).HTTP)},
		{MethodName: "ReadIndex", Handler: rpc.Unary(MethodReadIndex, (*Server).ReadIndex)},
	},
}

// ReadIndex answers with this leader's read index; a manager that is not
// the leader, or cannot confirm it still is, refuses.
func (s *Server) ReadIndex(ctx context.Context, _ *ReadIndexRequest) (*ReadIndexResponse, error) {
	idx, err := s.readIndex(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &ReadIndexResponse{Index: idx}, nil
}

// HTTP runs a forwarded request.
func (s *Server) HTTP(ctx context.Context, req *Request) (*Response, error) {
	if s.api == nil {
		return nil, status.Error(codes.Unavailable, "this manager has no API handler to serve forwarded requests")
	}
	// Decided over every write acknowledged before it, as the leader's
	// own writes are (Middleware): a new leader first applies what
	// earlier leaders committed.
	if s.readIndex != nil {
		if _, err := s.readIndex(ctx); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	r, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "forwarded request: %v", err)
	}
	// A request may come with no header at all, which Clone keeps nil.
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set(headerForwarded, "1")
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, r)
	return &Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes(), Index: s.index()}, nil
}

// Router says where a write should go: forward is false on the leader
// (serve locally); leaderAddr is the leader's cluster address.
type Router interface {
	Route() (leaderAddr string, forward bool)
	// Dial returns a connection to addr that the router owns: callers do
	// not close it.
	Dial(ctx context.Context, addr string) (*grpc.ClientConn, error)
	// WaitIndex waits until the local store has applied idx, so that a
	// read after a forwarded write sees it.
	WaitIndex(ctx context.Context, idx uint64) error
	// ReadIndex returns the index a linearizable read must see: on the
	// leader its own, on a follower the leader's (MethodReadIndex).
	ReadIndex(ctx context.Context) (uint64, error)
}

// readTimeout bounds the wait for a read index: past it, the manager has
// no leader that answers.
const readTimeout = 10 * time.Second

// Middleware forwards cluster writes (every method but GET and HEAD on
// the cluster's objects) to the leader when this manager is a follower,
// and holds cluster reads until the local store has applied the leader's
// read index. router is asked per request; nil means this node is not a
// manager in a swarm and serves everything itself.
func Middleware(next http.Handler, router func() Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rt := router()
		if rt == nil || req.Header.Get(headerForwarded) != "" {
			next.ServeHTTP(w, req)
			return
		}
		if isClusterRead(req) {
			if caughtUp(w, req, rt) {
				next.ServeHTTP(w, req)
			}
			return
		}
		if !isClusterWrite(req) {
			next.ServeHTTP(w, req)
			return
		}
		addr, fwd := rt.Route()
		if !fwd {
			// The leader decides a write over every write acknowledged
			// before it: a new leader serves once it has applied what
			// earlier leaders committed (the read index's barrier), or it
			// would refuse an update from a version it has not applied
			// yet as out of sequence.
			if caughtUp(w, req, rt) {
				next.ServeHTTP(w, req)
			}
			return
		}
		if addr == "" {
			writeError(w, http.StatusServiceUnavailable, NoLeader)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, limits.MaxRequestBody+1))
		switch {
		case err != nil:
			writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
			return
		case len(body) > limits.MaxRequestBody:
			err := limits.BodyTooLarge()
			writeError(w, errdefs.HTTPStatus(err), err.Error())
			return
		}
		resp, err := send(req, body, rt, addr)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "forward to the leader at "+addr+": "+err.Error())
			return
		}
		waitCtx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
		defer cancel()
		if err := rt.WaitIndex(waitCtx, resp.Index); err != nil {
			writeError(w, http.StatusServiceUnavailable, "this manager did not catch up with the leader: "+err.Error())
			return
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.Status)
		w.Write(resp.Body)
	})
}

// caughtUp waits until the local store has applied the read index, or
// answers the request with dockerd's no-leader 503 and returns false.
func caughtUp(w http.ResponseWriter, req *http.Request, rt Router) bool {
	ctx, cancel := context.WithTimeout(req.Context(), readTimeout)
	defer cancel()
	if err := readBarrier(ctx, rt); err != nil {
		writeError(w, http.StatusServiceUnavailable, NoLeader+" ("+err.Error()+")")
		return false
	}
	return true
}

// readBarrier waits until the local store has applied the read index.
func readBarrier(ctx context.Context, rt Router) error {
	idx, err := rt.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return rt.WaitIndex(ctx, idx)
}

// AskReadIndex asks the leader behind cc for its read index.
func AskReadIndex(ctx context.Context, cc *grpc.ClientConn) (uint64, error) {
	out := new(ReadIndexResponse)
	if err := cc.Invoke(ctx, MethodReadIndex, &ReadIndexRequest{}, out); err != nil {
		return 0, err
	}
	return out.Index, nil
}

// send forwards req, whose body is read already, to the leader. A body
// within limits.MaxRequestBody, base64 in the JSON codec, fits in
// limits.MaxMessageSize, which managers accept (ServerOptions).
func send(req *http.Request, body []byte, rt Router, addr string) (*Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), 60*time.Second)
	defer cancel()
	cc, err := rt.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	out := new(Response)
	err = cc.Invoke(ctx, MethodHTTP, &Request{Method: req.Method, URL: req.URL.RequestURI(), Header: req.Header, Body: body}, out,
		grpc.MaxCallSendMsgSize(limits.MaxMessageSize), grpc.MaxCallRecvMsgSize(limits.MaxMessageSize))
	return out, err
}

// ServerOptions let a manager's gRPC server take a forwarded request of
// the largest body the API accepts.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(limits.MaxMessageSize)}
}

// clusterPaths are the objects raft holds; writes to them must commit on
// the leader. Paths may carry a /v1.NN version prefix.
var clusterPaths = []string{"/swarm/update", "/services", "/nodes", "/secrets", "/configs", "/networks", "/tasks"}

func isClusterWrite(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	p := unversioned(r.URL.Path)
	if strings.HasPrefix(p, "/swarm/unlockkey") || p == "/swarm/join" || p == "/swarm/leave" || p == "/swarm/init" || p == "/swarm/unlock" {
		return false
	}
	// Connecting a container to a network concerns this node's own
	// container.
	if strings.HasPrefix(p, "/networks/") && (strings.HasSuffix(p, "/connect") || strings.HasSuffix(p, "/disconnect")) {
		return false
	}
	for _, c := range clusterPaths {
		if p == c || strings.HasPrefix(p, c+"/") {
			return true
		}
	}
	return false
}

// isClusterRead says whether r reads the objects raft holds: the swarm,
// services, nodes, secrets, configs, networks and tasks. /info and
// /events answer from the manager's own state, as dockerd's do without a
// leader.
func isClusterRead(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := unversioned(r.URL.Path)
	if p == "/swarm" {
		return true
	}
	for _, c := range clusterPaths {
		if c != "/swarm/update" && (p == c || strings.HasPrefix(p, c+"/")) {
			return true
		}
	}
	return false
}

// unversioned strips a /v1.NN prefix from p.
func unversioned(p string) string {
	if strings.HasPrefix(p, "/v1.") {
		if i := strings.Index(p[1:], "/"); i >= 0 {
			return p[i+1:]
		}
	}
	return p
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{msg})
}
