// Package authregistry serves, for tests, an OCI registry on 127.0.0.1
// that requires a login: go-containerregistry's in-memory registry behind
// Basic authentication, or behind Bearer tokens from a token endpoint of
// its own, as Docker Hub and Harbor do.
package authregistry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Scheme is how the registry asks for credentials.
type Scheme int

// Schemes.
const (
	Basic  Scheme = iota // WWW-Authenticate: Basic
	Bearer               // WWW-Authenticate: Bearer, tokens from /token
)

// Registry is a running registry that accepts one user.
type Registry struct {
	Host     string // 127.0.0.1:PORT
	User     string
	Password string
	scheme   Scheme
	token    string
	srv      *httptest.Server
}

// New starts a registry on 127.0.0.1 for user and password, stopped when
// t ends.
func New(t testing.TB, scheme Scheme, user, password string) *Registry {
	t.Helper()
	return Listen(t, "127.0.0.1:0", scheme, user, password)
}

// Listen is New on addr ("0.0.0.0:0" for a registry that hosts in network
// namespaces of their own reach through a bridge). Host is then the
// listener's address, which those hosts reach by another.
func Listen(t testing.TB, addr string, scheme Scheme, user, password string) *Registry {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{User: user, Password: password, scheme: scheme, token: randomToken()}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			r.serveToken(w, req)
			return
		}
		if !r.authorized(req) {
			r.challenge(w, req)
			return
		}
		inner.ServeHTTP(w, req)
	}))
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Registry) authorized(req *http.Request) bool {
	if r.scheme == Bearer {
		return req.Header.Get("Authorization") == "Bearer "+r.token
	}
	u, p, ok := req.BasicAuth()
	return ok && u == r.User && p == r.Password
}

// challenge answers 401 with the distribution spec's error body.
// The token realm is on the host the client asked.
func (r *Registry) challenge(w http.ResponseWriter, req *http.Request) {
	if r.scheme == Bearer {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="authregistry"`, req.Host))
	} else {
		w.Header().Set("WWW-Authenticate", `Basic realm="authregistry"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`)
}

// serveToken hands the token to the registry's user, as a token server
// does for a GET with Basic credentials.
// Like many token servers it has no OAuth POST form: clients fall back to
// the GET.
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet {
		http.NotFound(w, req)
		return
	}
	u, p, ok := req.BasicAuth()
	w.Header().Set("Content-Type", "application/json")
	if !ok || u != r.User || p != r.Password {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"token": r.token, "access_token": r.token, "expires_in": 300})
}
