// Package cfssltest runs CFSSL's own sign API — its signhandler over a
// local signer — on loopback, so tests outside internal/externalca can
// give a swarm a real external CA.
package cfssltest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cloudflare/cfssl/api/signhandler"
	"github.com/cloudflare/cfssl/config"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"

	"github.com/shoal-project/shoal/internal/ca"
)

// Server is a CFSSL sign endpoint.
type Server struct {
	// URL is the sign endpoint, for swarm.ExternalCA.URL.
	URL    string
	srv    *httptest.Server
	signed atomic.Int32
}

// Serve signs with root's key (root must hold it) under CFSSL's default
// policy until the test ends or Close.
func Serve(t testing.TB, root *ca.RootCA) *Server {
	t.Helper()
	// CFSSL logs every request at info level to the standard logger.
	cflog.Level = cflog.LevelFatal
	key, err := ca.ParseSigner(root.KeyPEM())
	if err != nil {
		t.Fatalf("cfssltest: root key: %v", err)
	}
	s, err := local.NewSigner(key, root.Cert(), signer.DefaultSigAlgo(key), &config.Signing{Default: config.DefaultConfig()})
	if err != nil {
		t.Fatalf("cfssltest: CFSSL local signer: %v", err)
	}
	h, err := signhandler.NewHandlerFromSigner(s)
	if err != nil {
		t.Fatalf("cfssltest: CFSSL sign handler: %v", err)
	}
	srv := &Server{}
	srv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.signed.Add(1)
		h.ServeHTTP(w, r)
	}))
	srv.URL = srv.srv.URL + "/api/v1/cfssl/sign"
	t.Cleanup(srv.Close)
	return srv
}

// Signed is how many sign requests the server received.
func (s *Server) Signed() int { return int(s.signed.Load()) }

// Close stops the server: the CA is down.
func (s *Server) Close() { s.srv.Close() }
