package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestStreamLimit opens event subscriptions up to the daemon's bound and
// one past it: that one is refused with a 503 naming the limit while the
// others stay open and docker version still answers; once one closes, a
// new one is admitted.
func TestStreamLimit(t *testing.T) {
	s := New(Config{Events: newBus(t), MaxStreams: 2})
	sock := serveServer(t, s)
	c := newClient(t, sock)

	open := func() context.CancelFunc {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.moby.localhost/events", nil)
		go func() {
			if resp, err := c.http.Do(req); err == nil {
				<-ctx.Done()
				resp.Body.Close()
			}
		}()
		return cancel
	}
	waitOpen := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s.gates.events.Open() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d event subscriptions open, want %d", s.gates.events.Open(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := open()
	open()
	waitOpen(2)

	wantError(t, c.do("GET", "/events", nil), http.StatusServiceUnavailable,
		"too many event subscriptions: this daemon serves at most 2 at once")
	if r := c.do("GET", "/version", nil); r.code != http.StatusOK {
		t.Fatalf("version with the streams full: got %d %s, want 200", r.code, r.body)
	}

	first()
	waitOpen(1)
	open()
	waitOpen(2)
}

// TestGateRoutes: which requests are long-lived, and so bounded.
func TestGateRoutes(t *testing.T) {
	g := newGates(1)
	tests := []struct {
		pattern, target string
		want            any
	}{
		{"GET /events", "/events", g.events},
		{"GET /services/{id}/logs", "/services/web/logs?follow=1", g.logs},
		{"GET /services/{id}/logs", "/services/web/logs", nil},
		{"GET /tasks/{id}/logs", "/tasks/t/logs?follow=true", g.logs},
		{"GET /containers/{id}/logs", "/containers/c/logs?follow=0", nil},
		{"POST /containers/{id}/attach", "/containers/c/attach?stream=1", g.sessions},
		{"POST /exec/{id}/start", "/exec/e/start", g.sessions},
		{"GET /containers/{id}/stats", "/containers/c/stats", g.stats},
		{"GET /containers/{id}/stats", "/containers/c/stats?stream=false", nil},
		{"GET /services", "/services", nil},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got := g.gate(tt.pattern, httptest.NewRequest("GET", tt.target, nil))
			if tt.want == nil && got != nil || tt.want != nil && any(got) != tt.want {
				t.Fatalf("got gate %v, want %v", got, tt.want)
			}
		})
	}
}
