package apiload

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestRun loads a small fake API: every kind of request is sent, updates
// carry the version read, the probe is answered, and Run ends by itself.
func TestRun(t *testing.T) {
	var updates, badVersion, events atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"ID":"s1"},{"ID":"s2"}]`))
	})
	mux.HandleFunc("GET /services/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ID":"s1","Version":{"Index":7},"Spec":{"Name":"web"}}`))
	})
	mux.HandleFunc("POST /services/{id}/update", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("version") != "7" {
			badVersion.Add(1)
		}
		updates.Add(1)
	})
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`[]`)) })
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		events.Add(1)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	start := time.Now()
	res, err := Run(context.Background(), Config{Socket: sock, Clients: 20, Duration: time.Second, Probe: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Run took %v for a duration of 1s", time.Since(start))
	}
	for _, kind := range []string{"ls", "inspect", "tasks", "update", "events"} {
		if res.Requests[kind] == 0 {
			t.Errorf("no %s request in %v", kind, res.Requests)
		}
	}
	if res.Errors != 0 || badVersion.Load() != 0 || events.Load() != 2 || res.Probes == 0 {
		t.Fatalf("errors %d, updates with another version %d, event followers %d (want 2), probes %d", res.Errors, badVersion.Load(), events.Load(), res.Probes)
	}
}

// TestRunWithoutProbe: with Probe 0 the clients load and Run reports
// their requests, no probe and no error, for a probe in another process.
func TestRunWithoutProbe(t *testing.T) {
	var lists atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		lists.Add(1)
		w.Write([]byte(`[{"ID":"s1"}]`))
	})
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	res, err := Run(context.Background(), Config{Socket: sock, Clients: 5, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Probes != 0 || res.Requests["ls"] == 0 || lists.Load() < int64(res.Requests["ls"]) {
		t.Fatalf("probes %d, ls %d, lists served %d; want no probe and the clients' lists", res.Probes, res.Requests["ls"], lists.Load())
	}
}
