package metrics

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-connections/tlsconfig"

	dto "github.com/prometheus/client_model/go"

	"github.com/shoal-project/shoal/internal/apitls"
)

// TestNamesTypesLabels checks every metric Shoal defines against the name,
// type and labels SwarmKit, dockerd or docs/METRICS.md give it, so that a
// rename breaks here rather than in someone's dashboard.
func TestNamesTypesLabels(t *testing.T) {
	// Vectors appear once observed.
	ContainerActions.WithLabelValues("start")
	ImageActions.WithLabelValues("pull")
	TaskTransitions.WithLabelValues("running", "failed", "exit_nonzero")
	APIRequestLatency.WithLabelValues("GET /info", "200")
	ImagePeerFetches.WithLabelValues("peer", "ok")
	EngineInfo.WithLabelValues("v", "c", "a", "g", "k", "o", "t", "ov", "id")

	want := map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		"swarm_raft_transaction_latency_seconds":    {dto.MetricType_HISTOGRAM, nil},
		"swarm_store_read_tx_latency_seconds":       {dto.MetricType_HISTOGRAM, nil},
		"swarm_store_write_tx_latency_seconds":      {dto.MetricType_HISTOGRAM, nil},
		"swarm_store_batch_latency_seconds":         {dto.MetricType_HISTOGRAM, nil},
		"swarm_dispatcher_scheduling_delay_seconds": {dto.MetricType_HISTOGRAM, nil},
		"engine_daemon_container_actions_seconds":   {dto.MetricType_HISTOGRAM, []string{"action"}},
		"engine_daemon_image_actions_seconds":       {dto.MetricType_HISTOGRAM, []string{"action"}},
		"engine_daemon_events_total":                {dto.MetricType_COUNTER, nil},
		"engine_daemon_health_checks_total":         {dto.MetricType_COUNTER, nil},
		"engine_daemon_health_checks_failed_total":  {dto.MetricType_COUNTER, nil},
		"engine_daemon_engine_info": {dto.MetricType_GAUGE,
			[]string{"architecture", "commit", "daemon_id", "graphdriver", "kernel", "os", "os_type", "os_version", "version"}},
		"engine_daemon_engine_cpus_cpus":      {dto.MetricType_GAUGE, nil},
		"engine_daemon_engine_memory_bytes":   {dto.MetricType_GAUGE, nil},
		"shoal_raft_apply_latency_seconds":    {dto.MetricType_HISTOGRAM, nil},
		"shoal_raft_commit_latency_seconds":   {dto.MetricType_HISTOGRAM, nil},
		"shoal_raft_leader_changes_total":     {dto.MetricType_COUNTER, nil},
		"shoal_task_state_transitions_total":  {dto.MetricType_COUNTER, []string{"from", "reason", "to"}},
		"shoal_task_new_to_running_seconds":   {dto.MetricType_HISTOGRAM, nil},
		"shoal_api_request_duration_seconds":  {dto.MetricType_HISTOGRAM, []string{"route", "status"}},
		"shoal_image_peer_fetches_total":      {dto.MetricType_COUNTER, []string{"result", "source"}},
		"shoal_image_peer_served_bytes_total": {dto.MetricType_COUNTER, nil},
		"go_goroutines":                       {dto.MetricType_GAUGE, nil},
		"process_resident_memory_bytes":       {dto.MetricType_GAUGE, nil},
	}
	families, err := Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range families {
		got[f.GetName()] = f
	}
	for name, w := range want {
		f, ok := got[name]
		if !ok {
			t.Errorf("%s is not registered", name)
			continue
		}
		if f.GetType() != w.typ {
			t.Errorf("%s is a %v, want a %v", name, f.GetType(), w.typ)
		}
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		if !slices.Equal(labels, w.labels) {
			t.Errorf("%s has labels %v, want %v", name, labels, w.labels)
		}
	}
}

func TestHandlerServesText(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "# TYPE swarm_store_read_tx_latency_seconds histogram") {
		t.Errorf("GET /metrics got %d, want the text format with the store's histogram:\n%.400s", rec.Code, rec.Body.String())
	}
}

// TestListenFollowsTheAPIsTLSRule: loopback is served plain; an address
// reachable from the network is refused without TLS, served plain only
// under --insecure-tcp, and with --tlsverify answers only a client with a
// certificate of the CA.
func TestListenFollowsTheAPIsTLSRule(t *testing.T) {
	open := apitls.Addr{Network: "tcp", Address: "0.0.0.0:0"}
	noTLS, err := apitls.NewListeners(apitls.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(apitls.Addr{Network: "tcp", Address: "127.0.0.1:0"}, noTLS)
	if err != nil {
		t.Fatalf("loopback without TLS: %v", err)
	}
	ln.Close()
	if _, err := Listen(open, noTLS); err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Errorf("an open address without TLS: got %v, want it refused", err)
	}
	insecure, err := apitls.NewListeners(apitls.Options{InsecureTCP: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if ln, err = Listen(open, insecure); err != nil {
		t.Errorf("an open address under --insecure-tcp: %v", err)
	} else {
		ln.Close()
	}

	dir := t.TempDir()
	if err := apitls.Init(dir, []string{"127.0.0.1"}, "prometheus", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	verify, err := apitls.NewListeners(apitls.Options{Verify: true, CAFile: filepath.Join(dir, apitls.CAFile),
		CertFile: filepath.Join(dir, apitls.ServerCertFile), KeyFile: filepath.Join(dir, apitls.ServerKeyFile)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err = Listen(open, verify)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()
	url := "https://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/metrics"
	client := func(withCert bool) *http.Client {
		cfg, err := tlsconfig.Client(tlsconfig.Options{CAFile: filepath.Join(dir, apitls.CAFile)})
		if err != nil {
			t.Fatal(err)
		}
		if withCert {
			c, err := tls.LoadX509KeyPair(filepath.Join(dir, apitls.ClientCertFile), filepath.Join(dir, apitls.ClientKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	resp, err := client(true).Get(url)
	if err != nil {
		t.Fatalf("scrape with a client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("scrape with a client certificate: %s", resp.Status)
	}
	if resp, err := client(false).Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("scrape without a client certificate answered %s, want the handshake refused", resp.Status)
	}
}
