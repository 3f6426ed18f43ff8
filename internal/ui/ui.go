// Package ui is Shoal's web UI: a live view of the swarm (nodes and their
// tasks, services and stacks, logs, events, zones) served from assets
// embedded in the binary. The page is a client of the Docker Engine API
// and nothing more: the handler serves the assets and passes requests
// under /api/ to the Engine API handler it is given, which is the
// daemon's own (`shoal daemon --ui-addr`) or a proxy to a remote daemon
// (`shoal ui`). Who may use it is decided in access.go.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
)

//go:embed assets
var assets embed.FS

// Assets is the page's files: index.html, the application's modules and
// the vendored libraries (assets/vendor/VERSIONS names them).
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// Config is what the UI serves.
type Config struct {
	// API is the Docker Engine API; requests under /api/ reach it with
	// the prefix taken off. Never nil.
	API http.Handler
	// Token, when not empty, is what every request must present (access.go).
	// Empty only where the listener itself is trusted: a unix socket or
	// a TLS listener that requires client certificates.
	Token string
}

// New returns the UI's handler.
func New(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", apiFilter(cfg.API)))
	files := http.FileServerFS(Assets())
	mux.Handle("/", withHeaders(files))
	return guard(cfg.Token, mux)
}

// nodeUpdate is the one write the page makes: a node's availability.
var nodeUpdate = regexp.MustCompile(`^(/v[0-9.]+)?/nodes/[^/]+/update$`)

// apiFilter lets through what the page uses: reads, and node updates
// (drain, activate). The token grants the API's trust, but a page has
// no business creating containers, and a smaller surface is a smaller
// risk should a token leak.
func apiFilter(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
		case r.Method == http.MethodPost && nodeUpdate.MatchString(r.URL.Path):
		default:
			writeError(w, http.StatusForbidden, "the web UI proxies reads and node updates only, not "+r.Method+" "+r.URL.Path+"; use the Docker API for that")
			return
		}
		// Exec and attach upgrade the connection; none is a GET, and the
		// page never asks for one.
		if strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			writeError(w, http.StatusForbidden, "the web UI does not proxy connection upgrades")
			return
		}
		api.ServeHTTP(w, r)
	})
}

// withHeaders adds to the page what keeps it from being framed or
// loading anything from elsewhere.
func withHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// writeError answers as the Engine API does, so the page shows one kind
// of error.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write([]byte(`{"message":` + quote(msg) + "}\n"))
}
