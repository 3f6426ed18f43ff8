package apiserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-project/shoal/bench/apiload"
)

// BenchmarkAPILoad runs bench/apiload against this package's server over
// a unix socket, with a one-manager swarm on a real replicated store and
// ten services: 500 clients listing, inspecting, listing tasks, following
// events and updating, while the probe times GET /services. It measures
// the API and the store's read path without containerd or a daemon
// (bench/api-load.sh measures the whole daemon):
//
//	go test -run '^$' -bench APILoad -benchtime 1x ./internal/apiserver
func BenchmarkAPILoad(b *testing.B) {
	tc := newTestCluster(b)
	s := New(Config{Cluster: tc, Events: newBus(b)})
	for i := range 10 {
		if w := serveOnce(s, "/services/create", "", fmt.Appendf(nil, `{"Name":"load%d","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, i)); w.Code != 201 {
			b.Fatalf("create: %d %s", w.Code, w.Body)
		}
	}
	sock := serveServer(b, s)
	for b.Loop() {
		res, err := apiload.Run(b.Context(), apiload.Config{Socket: sock, Clients: 500, Duration: 20 * time.Second, Probe: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		total := 0
		for _, n := range res.Requests {
			total += n
		}
		b.Logf("requests %v errors %d probes %d", res.Requests, res.Errors, res.Probes)
		b.ReportMetric(float64(total)/20, "load-req/s")
		b.ReportMetric(float64(res.P50.Microseconds())/1000, "ls-p50-ms")
		b.ReportMetric(float64(res.P99.Microseconds())/1000, "ls-p99-ms")
		b.ReportMetric(float64(res.Max.Microseconds())/1000, "ls-max-ms")
	}
}
