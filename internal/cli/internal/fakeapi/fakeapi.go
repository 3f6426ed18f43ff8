// Package fakeapi is a small in-memory Docker Engine API server for the CLI's
// tests. It keeps swarm objects of moby's own types, answers the endpoints
// the shoal CLI calls the way the daemon does (lookups by ID, ID prefix or
// name; versions checked; JSON errors with status codes), and records every
// request so tests can check what a command sent.
package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
)

// APIVersion is the version the fake announces.
const APIVersion = "1.51"

// Request is one request the server received.
type Request struct {
	Method string
	// Path is the request path without the /vX.Y prefix.
	Path  string
	Query url.Values
	Body  []byte
}

// Decode unmarshals the request body into v, failing the test if it cannot.
func (r Request) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s %s: body %q: %v", r.Method, r.Path, r.Body, err)
	}
}

// Server is the fake daemon. Tests set its fields before running a command
// and may read them after; handlers hold mu while they run.
type Server struct {
	mu       sync.Mutex
	srv      *httptest.Server
	requests []Request
	nextID   int

	Info      system.Info
	Version   system.VersionResponse
	Swarm     swarm.Swarm
	UnlockKey string
	Nodes     []swarm.Node
	Services  []swarm.Service
	Tasks     []swarm.Task
	Networks  []network.Summary
	Images    []image.Summary
	// Secrets keep their data; the API never shows it.
	Secrets []swarm.Secret
	Configs []swarm.Config
	// Streams are the raw bodies answered for streaming endpoints, keyed by
	// "METHOD /path" (e.g. "POST /images/create", "GET /services/web/logs").
	Streams map[string][]byte
	// Now dates new objects.
	Now time.Time

	// BeforeTasks runs, under the lock, before GET /tasks is answered: tests
	// move tasks along here to play a converging service.
	BeforeTasks func(s *Server)
}

// New starts a fake daemon that stops when the test (or whatever else
// registers cleanups) ends.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{
		Now:     time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Streams: map[string][]byte{},
		Version: system.VersionResponse{Version: "0.1.0-test", APIVersion: APIVersion, MinAPIVersion: "1.24", Os: "linux", Arch: "amd64"},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// Host is the address to give the CLI with -H.
func (s *Server) Host() string { return "tcp://" + strings.TrimPrefix(s.srv.URL, "http://") }

// Requests returns the requests received so far, pings left out.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Path != "/_ping" {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the requests with this method and path.
func (s *Server) Find(method, path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// NewID returns a fresh 25-character swarm ID with a readable prefix.
func (s *Server) NewID(prefix string) string {
	s.nextID++
	id := fmt.Sprintf("%s%d", prefix, s.nextID)
	return id + strings.Repeat("0", max(25-len(id), 0))
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: path, Query: r.URL.Query(), Body: body})

	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Ostype", "linux")
	if stream, ok := s.Streams[r.Method+" "+path]; ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(stream)
		return
	}
	req := request{w: w, r: r, path: path, body: body}
	if err := s.route(req); err != nil {
		writeError(w, err.status, err.msg)
	}
}

type request struct {
	w    http.ResponseWriter
	r    *http.Request
	path string
	body []byte
}

type apiError struct {
	status int
	msg    string
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) *apiError {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return nil
}

func (q request) decode(v any) *apiError {
	if err := json.Unmarshal(q.body, v); err != nil {
		return invalid("malformed body: %v", err)
	}
	return nil
}

// segments splits "/services/web/update" into ["services", "web", "update"].
func segments(path string) []string { return strings.Split(strings.Trim(path, "/"), "/") }

func (s *Server) route(q request) *apiError {
	seg := segments(q.path)
	m := q.r.Method
	switch {
	case seg[0] == "_ping":
		q.w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(q.w, "OK")
		return nil
	case m == http.MethodGet && q.path == "/version":
		return writeJSON(q.w, http.StatusOK, s.Version)
	case m == http.MethodGet && q.path == "/info":
		return writeJSON(q.w, http.StatusOK, s.Info)
	case seg[0] == "swarm":
		return s.swarmRoute(q, seg)
	case seg[0] == "nodes":
		return s.nodeRoute(q, seg)
	case seg[0] == "services":
		return s.serviceRoute(q, seg)
	case seg[0] == "tasks":
		return s.taskRoute(q, seg)
	case seg[0] == "secrets":
		return s.secretObjects().route(s, q, seg)
	case seg[0] == "configs":
		return s.configObjects().route(s, q, seg)
	case seg[0] == "networks" && len(seg) == 2 && m == http.MethodGet:
		for _, n := range s.Networks {
			if n.ID == seg[1] || n.Name == seg[1] || strings.HasPrefix(n.ID, seg[1]) {
				return writeJSON(q.w, http.StatusOK, n)
			}
		}
		return notFound("network %s not found", seg[1])
	case seg[0] == "images" || seg[0] == "distribution":
		return s.imageRoute(q, seg)
	}
	return notFound("page not found")
}

func boolQuery(v url.Values, key string) bool {
	b, _ := strconv.ParseBool(v.Get(key))
	return b || v.Get(key) == "1"
}

// filters decodes the filters query parameter in either form the daemon accepts.
func filters(v url.Values) map[string][]string {
	out := map[string][]string{}
	raw := v.Get("filters")
	if raw == "" {
		return out
	}
	var asMap map[string]map[string]bool
	if json.Unmarshal([]byte(raw), &asMap) == nil {
		for k, vals := range asMap {
			for val := range vals {
				out[k] = append(out[k], val)
			}
		}
		return out
	}
	_ = json.Unmarshal([]byte(raw), &out)
	return out
}

func matchesAny(values []string, f func(string) bool) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if f(v) {
			return true
		}
	}
	return false
}
