package metrics

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
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
		"engine_daemon_engine_cpus_cpus":     {dto.MetricType_GAUGE, nil},
		"engine_daemon_engine_memory_bytes":  {dto.MetricType_GAUGE, nil},
		"shoal_raft_apply_latency_seconds":   {dto.MetricType_HISTOGRAM, nil},
		"shoal_raft_commit_latency_seconds":  {dto.MetricType_HISTOGRAM, nil},
		"shoal_raft_leader_changes_total":    {dto.MetricType_COUNTER, nil},
		"shoal_task_state_transitions_total": {dto.MetricType_COUNTER, []string{"from", "reason", "to"}},
		"shoal_task_new_to_running_seconds":  {dto.MetricType_HISTOGRAM, nil},
		"shoal_api_request_duration_seconds": {dto.MetricType_HISTOGRAM, []string{"route", "status"}},
		"go_goroutines":                      {dto.MetricType_GAUGE, nil},
		"process_resident_memory_bytes":      {dto.MetricType_GAUGE, nil},
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

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in       string
		insecure bool
		want     Addr
		err      string
	}{
		{in: "127.0.0.1:9323", want: Addr{Network: "tcp", Address: "127.0.0.1:9323"}},
		{in: "tcp://[::1]:9323", want: Addr{Network: "tcp", Address: "[::1]:9323"}},
		{in: "localhost:9323", want: Addr{Network: "tcp", Address: "localhost:9323"}},
		{in: "unix:///run/shoal/metrics.sock", want: Addr{Network: "unix", Address: "/run/shoal/metrics.sock"}},
		{in: "0.0.0.0:9323", err: "reachable from the network"},
		{in: ":9323", err: "reachable from the network"},
		{in: "10.0.0.5:9323", err: "add --metrics-insecure"},
		{in: "10.0.0.5:9323", insecure: true, want: Addr{Network: "tcp", Address: "10.0.0.5:9323", Open: true}},
		{in: ":9323", insecure: true, want: Addr{Network: "tcp", Address: ":9323", Open: true}},
		{in: "unix://relative.sock", err: "absolute path"},
		{in: "http://127.0.0.1:9323", err: "want unix:///path, tcp://host:port or host:port"},
		{in: "127.0.0.1", err: "want unix:///path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddr(tt.in, tt.insecure)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("ParseAddr(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.err)
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("ParseAddr(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}
