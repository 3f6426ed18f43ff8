// Package apiserver serves the Docker Engine API over HTTP, so that the
// docker CLI and Docker SDKs drive Shoal unchanged: version-prefixed
// routes, dockerd's headers and error bodies, and the endpoints of swarm
// mode, containers and images, each answered by a backend.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/metrics"
)

// The API versions served: the swagger's, and the oldest dockerd still
// accepts.
const (
	APIVersion    = "1.56"
	MinAPIVersion = "1.24"
)

// Config configures a Server. A nil backend makes its endpoints answer
// 503.
type Config struct {
	Cluster     Cluster
	Containers  Containers
	Lifecycle   Lifecycle
	Images      Images
	Registry    Registry // nil: no login, push, history, save or image prune
	Networks    LocalNetworks
	Volumes     Volumes
	ServiceLogs ServiceLogs
	System      System
	Backups     Backups   // nil: no swarm backups
	ImagePins   ImagePins // nil: service images are not pinned here
	Events      Events
	DiskUsage   DiskUsage
	Stats       ContainerStats
	Builder     Builder // nil: no docker build

	// MaxStreams bounds each kind of long-lived request (event
	// subscriptions, log followers, attach and exec sessions, stats
	// streams) at once; 0 is limits.MaxStreams.
	MaxStreams int

	Version   string // the daemon's version, shown as Docker/<Version>
	GitCommit string
	BuildTime string
	Logger    *slog.Logger
}

// Server is the Engine API handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	gates gates
	// answers keeps encoded answers of the cluster reads polled most.
	answers answerCache
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), gates: newGates(cfg.MaxStreams)}
	s.routes()
	return s
}

// handler is an endpoint: an error it returns before writing becomes
// dockerd's error body.
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// versionPrefix is dockerd's: any digits and dots, judged by checkVersion.
var versionPrefix = regexp.MustCompile(`^/v([0-9.]+)(/.*)$`)

// versionKey is the context key of the API version a request asked for.
type versionKey struct{}

// requestVersion is the API version of r: its path's prefix, or the
// newest without one.
func requestVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return APIVersion
}

// streamedBodies are the routes whose bodies are archives streamed to
// disk (images), not decoded in memory, or bounded by their own reader (a
// swarm backup: backup.MaxState, a build context: limits.MaxBuildContext,
// docker cp into a container: limits.MaxCopyArchive); they are exempt from
// limits.MaxRequestBody, as dockerd bounds images by nothing but disk.
var streamedBodies = map[string]bool{"POST /images/load": true, "POST /images/create": true, "POST /shoal/swarm/restore": true,
	"POST /build":                  true,
	"PUT /containers/{id}/archive": true}

// ServeHTTP strips the version prefix, refuses versions out of range,
// sets dockerd's headers and routes the request. A panic in an endpoint
// answers 500 rather than drop the connection.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &trackingWriter{ResponseWriter: rw}
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "Docker/"+s.cfg.Version+" (linux)")
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("API handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if !w.wrote {
				s.writeError(w, r, fmt.Errorf("internal server error: %v", p))
			}
		}
	}()
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		if err := checkVersion(m[1]); err != nil {
			s.writeError(w, r, err)
			return
		}
		r.URL.Path = m[2]
		r.URL.RawPath = ""
		r = r.WithContext(context.WithValue(r.Context(), versionKey{}, m[1]))
	}
	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		defer observeRequest("unknown", w, time.Now())
		s.writeError(w, r, errdefs.NotFound("page not found"))
		return
	}
	defer observeRequest(pattern, w, time.Now())
	if !streamedBodies[pattern] {
		r.Body = http.MaxBytesReader(w, r.Body, limits.MaxRequestBody)
	}
	if g := s.gates.gate(pattern, r); g != nil {
		release, err := g.Enter()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer release()
	}
	s.mux.ServeHTTP(w, r)
}

// checkVersion refuses versions out of range with dockerd's messages, and
// then, unlike dockerd, one that is not MAJOR.MINOR ("1.41.99.1"): every
// API version is, and a client that sends another is broken.
func checkVersion(v string) error {
	switch {
	case compareVersions(v, APIVersion) > 0:
		return errdefs.Invalid("client version %s is too new. Maximum supported API version is %s", v, APIVersion)
	case compareVersions(v, MinAPIVersion) < 0:
		return errdefs.Invalid("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion)
	case !majorMinor.MatchString(v):
		return errdefs.Invalid("client version %s is not an API version: want MAJOR.MINOR, from %s to %s", v, MinAPIVersion, APIVersion)
	}
	return nil
}

var majorMinor = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// compareVersions compares dotted version numbers by component.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// trackingWriter remembers whether the response has started, so that a
// panic after it did is not answered twice. Unwrap lets
// http.ResponseController reach the connection (flush, hijack).
type trackingWriter struct {
	http.ResponseWriter
	wrote  bool
	status int // the status sent, 0 until then
}

func (w *trackingWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
	}
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// observeRequest records a request's latency by route (the pattern it
// matched, so that IDs in paths do not make a series each) and status.
func observeRequest(route string, w *trackingWriter, start time.Time) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	metrics.APIRequestLatency.WithLabelValues(route, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
}

func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Serve answers requests on ln until ctx ends, then shuts down, letting
// requests in flight finish for a few seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
		IdleTimeout:       limits.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil {
			srv.Close()
		}
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}
