// Package httpload measures HTTP request rate and latency over a fixed
// time, and serves the small answer it measures against: the routing
// mesh benchmark (bench/mesh.sh) runs both ends inside a local cluster,
// so that the mesh, a service's VIP and a task's own address are measured
// with the same client, server and payload in one run.
package httpload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// Config is one measurement: Conns clients, each sending one request
// after another to URL for Duration.
type Config struct {
	URL      string
	Conns    int
	Duration time.Duration
	// NewConns opens a connection per request, so that every request
	// pays for a connection's set-up through the path under test (for
	// the mesh, a new conntrack entry and NAT decision each time).
	NewConns bool
}

// Result is what a measurement saw.
type Result struct {
	Requests int
	Errors   int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// PerSecond is the rate of successful requests.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Run measures cfg. It stops by itself after cfg.Duration (or when ctx
// ends); it fails only if no request at all succeeded.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Conns < 1 || cfg.Duration <= 0 {
		return Result{}, fmt.Errorf("httpload: need at least one connection and a duration, got %d and %v", cfg.Conns, cfg.Duration)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	transport := &http.Transport{
		DisableKeepAlives:   cfg.NewConns,
		MaxIdleConnsPerHost: cfg.Conns,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			failed := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := get(ctx, client, cfg.URL); err != nil {
					if ctx.Err() == nil {
						failed++
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errs += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := Summarize(latencies, time.Since(start))
	res.Errors = errs
	if res.Requests == 0 {
		return res, fmt.Errorf("httpload: no request to %s succeeded (%d errors)", cfg.URL, errs)
	}
	return res, nil
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// Summarize computes a Result from the latencies of successful requests.
func Summarize(latencies []time.Duration, elapsed time.Duration) Result {
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	return Result{Requests: len(sorted), Elapsed: elapsed, P50: Percentile(sorted, 50), P99: Percentile(sorted, 99)}
}

// Percentile is the nearest-rank percentile p (0–100] of sorted values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// Serve answers every request on addr with the host's name until ctx
// ends: a fixed, small answer, so that what is measured is the path.
func Serve(ctx context.Context, addr string) error {
	name, err := os.Hostname()
	if err != nil {
		return err
	}
	body := []byte(name + "\n")
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
		}),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
