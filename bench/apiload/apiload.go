// Package apiload hammers a daemon's Engine API with many concurrent
// clients doing what people and tools do to a swarm (list and inspect
// services, list tasks, follow events, update services) while a separate
// probe measures how long `docker service ls` (GET /services) takes.
package apiload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/bench/httpload"
)

// Config is one run.
type Config struct {
	Socket   string // the daemon's unix socket
	Clients  int    // concurrent load clients, each on its own connection
	Duration time.Duration
	// Probe is how often the probe lists services; 0 runs no probe (the
	// probe runs in a process of its own, as a docker CLI does, and not
	// behind this one's clients on its cores: bench/api-load.sh).
	Probe time.Duration
}

// Result is what a run saw: the load's requests by kind, its errors, and
// the probe's latencies.
type Result struct {
	Requests map[string]int
	Errors   int
	// FirstError is the first load request's error, so that a run with
	// errors says what they were.
	FirstError string
	Probes     int
	P50, P99   time.Duration
	Max        time.Duration
}

// kinds of load request, in the mix each client cycles through: reads
// mostly, one write in twenty, and every tenth client follows events.
var mix = []string{"ls", "inspect", "tasks", "ls", "inspect", "tasks", "ls", "inspect", "tasks", "ls",
	"inspect", "tasks", "ls", "inspect", "tasks", "ls", "inspect", "tasks", "ls", "update"}

// Run loads the daemon for cfg.Duration and returns the probe's numbers.
// It stops by itself; it fails when the daemon has no service to work on
// or its probe, when it runs one, saw no answer.
func Run(ctx context.Context, cfg Config) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "unix", cfg.Socket)
	}
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	}
	setup := newClient()
	var services []struct{ ID string }
	if err := getJSON(ctx, setup, "/services", &services); err != nil || len(services) == 0 {
		return Result{}, fmt.Errorf("apiload: need services to work on: %d found (%v)", len(services), err)
	}

	var (
		mu     sync.Mutex
		counts = map[string]int{}
		errs   atomic.Int64
		first  sync.Once
		wg     sync.WaitGroup
		firstE string
	)
	for i := range cfg.Clients {
		wg.Go(func() {
			c := newClient()
			defer c.Transport.(*http.Transport).CloseIdleConnections()
			if i%10 == 9 {
				follow(ctx, c)
				mu.Lock()
				counts["events"]++
				mu.Unlock()
				return
			}
			mine := map[string]int{}
			for n := i; ctx.Err() == nil; n++ {
				kind := mix[n%len(mix)]
				id := services[n%len(services)].ID
				got, err := do(ctx, c, kind, id)
				if err != nil && ctx.Err() != nil {
					break // cut short by the run's end: not a request answered
				}
				if err != nil {
					errs.Add(1)
					first.Do(func() { firstE = err.Error() })
				}
				mine[got]++
			}
			mu.Lock()
			for k, v := range mine {
				counts[k] += v
			}
			mu.Unlock()
		})
	}

	if cfg.Probe == 0 {
		<-ctx.Done()
		wg.Wait()
		return Result{Requests: counts, Errors: int(errs.Load()), FirstError: firstE}, nil
	}
	probe := newClient()
	var lat []time.Duration
	tick := time.NewTicker(cfg.Probe)
	defer tick.Stop()
	for ctx.Err() == nil {
		t0 := time.Now()
		if err := getJSON(ctx, probe, "/services", nil); err == nil {
			lat = append(lat, time.Since(t0))
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	wg.Wait()
	sum := httpload.Summarize(lat, cfg.Duration)
	res := Result{Requests: counts, Errors: int(errs.Load()), FirstError: firstE, Probes: len(lat), P50: sum.P50, P99: sum.P99}
	if len(lat) > 0 {
		res.Max = slices.Max(lat)
	}
	if res.Probes == 0 {
		return res, fmt.Errorf("apiload: no probe of GET /services succeeded")
	}
	return res, nil
}

// do sends one request of kind about service id and returns its kind as
// counted: an update that lost a race with another is "update-conflict".
func do(ctx context.Context, c *http.Client, kind, id string) (string, error) {
	switch kind {
	case "ls":
		return kind, getJSON(ctx, c, "/services", nil)
	case "inspect":
		return kind, getJSON(ctx, c, "/services/"+id, nil)
	case "tasks":
		return kind, getJSON(ctx, c, "/tasks?filters="+url.QueryEscape(`{"service":{"`+id+`":true}}`), nil)
	}
	var svc struct {
		Version struct{ Index uint64 }
		Spec    map[string]any
	}
	if err := getJSON(ctx, c, "/services/"+id, &svc); err != nil {
		return kind, err
	}
	labels, _ := svc.Spec["Labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels["apiload"] = fmt.Sprint(svc.Version.Index)
	svc.Spec["Labels"] = labels
	body, err := json.Marshal(svc.Spec)
	if err != nil {
		return kind, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://docker/services/%s/update?version=%d", id, svc.Version.Index), bytes.NewReader(body))
	if err != nil {
		return kind, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return kind, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, resp.Body)
	switch {
	case resp.StatusCode == http.StatusConflict:
		return "update-conflict", nil
	case resp.StatusCode != http.StatusOK:
		return kind, fmt.Errorf("update %s: %s: %s", id, resp.Status, bytes.TrimSpace(msg))
	}
	return kind, nil
}

// follow subscribes to events until ctx ends, reading what comes.
func follow(ctx context.Context, c *http.Client) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/events", nil)
	if err != nil {
		return
	}
	resp, err := (&http.Client{Transport: c.Transport}).Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
}

// getJSON GETs path and decodes the answer into v (nil: discards it).
func getJSON(ctx context.Context, c *http.Client, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
