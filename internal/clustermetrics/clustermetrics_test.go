package clustermetrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/store"
)

func replicated(id, name string, n uint64) *store.Service {
	return &store.Service{Service: swarm.Service{ID: id, Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}}}}
}

func global(id, name string) *store.Service {
	return &store.Service{Service: swarm.Service{ID: id, Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name},
		Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}}}
}

func task(id, service string, state, desired swarm.TaskState) *store.Task {
	return &store.Task{Task: swarm.Task{ID: id, ServiceID: service, Status: swarm.TaskStatus{State: state}, DesiredState: desired}}
}

func node(id string, state swarm.NodeState) *store.Node {
	return &store.Node{Node: swarm.Node{ID: id, Status: swarm.NodeStatus{State: state}}}
}

func put(t *testing.T, st *store.Store, objs ...any) {
	t.Helper()
	err := st.Update(t.Context(), func(tx *store.WriteTx) error {
		for _, o := range objs {
			var err error
			switch o := o.(type) {
			case *store.Service:
				err = tx.Put(o)
			case *store.Task:
				err = tx.Put(o)
			case *store.Node:
				err = tx.Put(o)
			case *store.Secret:
				err = tx.Put(o)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// gather collects c's metrics as "name{labels} value" lines.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	r := prometheus.NewRegistry()
	r.MustRegister(c)
	fams, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s is a %v, want a gauge", f.GetName(), f.GetType())
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	st := consensustest.NewStore(t)
	put(t, st,
		node("n1", swarm.NodeStateReady), node("n2", swarm.NodeStateDown),
		replicated("s1", "web", 3), global("s2", "agent"),
		task("t1", "s1", swarm.TaskStateRunning, swarm.TaskStateRunning),
		task("t2", "s1", swarm.TaskStateRunning, swarm.TaskStateRunning),
		task("t3", "s1", swarm.TaskStatePending, swarm.TaskStateRunning),
		task("t4", "s1", swarm.TaskStateShutdown, swarm.TaskStateShutdown),
		task("t5", "s2", swarm.TaskStateRunning, swarm.TaskStateRunning),
		&store.Secret{Secret: swarm.Secret{ID: "x1"}},
	)
	got := gather(t, NewCollector(func() (*store.Store, bool) { return st, true }))
	want := map[string]float64{
		"swarm_node_manager{}":                             1,
		"swarm_manager_leader{}":                           1,
		"swarm_manager_nodes{state=ready}":                 1,
		"swarm_manager_nodes{state=down}":                  1,
		"swarm_manager_nodes{state=unknown}":               0,
		"swarm_manager_tasks_total{state=running}":         3,
		"swarm_manager_tasks_total{state=pending}":         1,
		"swarm_manager_tasks_total{state=shutdown}":        1,
		"swarm_manager_tasks_total{state=failed}":          0,
		"swarm_manager_services_total{}":                   2,
		"swarm_manager_secrets_total{}":                    1,
		"swarm_manager_networks_total{}":                   0,
		"swarm_manager_configs_total{}":                    0,
		"shoal_service_tasks{service=web,state=running}":   2,
		"shoal_service_tasks{service=web,state=desired}":   3,
		"shoal_service_tasks{service=agent,state=running}": 1,
		"shoal_service_tasks{service=agent,state=desired}": 1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}

	worker := gather(t, NewCollector(func() (*store.Store, bool) { return nil, false }))
	if d := cmp.Diff(map[string]float64{"swarm_node_manager{}": 0}, worker); d != "" {
		t.Errorf("a worker's metrics (-want +got):\n%s", d)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		state, desired swarm.TaskState
		err            string
		want           string
	}{
		{swarm.TaskStateRunning, swarm.TaskStateRunning, "", "progress"},
		{swarm.TaskStateComplete, swarm.TaskStateRunning, "", "exit_zero"},
		{swarm.TaskStateFailed, swarm.TaskStateRunning, "task: non-zero exit (2)", "exit_nonzero"},
		{swarm.TaskStateFailed, swarm.TaskStateRunning, "task: non-zero exit (137): OOM killed", "oom"},
		{swarm.TaskStateFailed, swarm.TaskStateRunning, "task: non-zero exit (137): dockerexec: unhealthy container", "unhealthy"},
		{swarm.TaskStateFailed, swarm.TaskStateRunning, "starting container failed: no such file", "error"},
		{swarm.TaskStateRejected, swarm.TaskStateRunning, "No such image: nope", "rejected"},
		{swarm.TaskStateShutdown, swarm.TaskStateShutdown, "", "desired_shutdown"},
		{swarm.TaskStateShutdown, swarm.TaskStateRemove, "", "desired_remove"},
		{swarm.TaskStateOrphaned, swarm.TaskStateRunning, "", "node_down"},
	}
	for _, tt := range tests {
		tk := task("t", "s", tt.state, tt.desired)
		tk.Status.Err = tt.err
		if got := Reason(tk); got != tt.want {
			t.Errorf("Reason(%s desired %s, %q) = %q, want %q", tt.state, tt.desired, tt.err, got, tt.want)
		}
	}
}

func counterValue(t *testing.T, from, to, reason string) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.TaskTransitions.WithLabelValues(from, to, reason).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestWatchCountsTransitions: each state change counts once, and changes
// from before the watch started (a replayed log) do not count.
func TestWatchCountsTransitions(t *testing.T) {
	now := time.Now()
	w := &taskWatch{states: map[string]swarm.TaskState{}, since: now.Add(-replayWindow)}
	before := counterValue(t, "starting", "running", "progress")
	beforeNew := counterValue(t, "none", "new", "progress")
	ev := func(tk *store.Task, at time.Time) { w.apply(store.Event{Op: store.OpPut, Object: tk, Time: at}, tk) }

	old := task("old", "s", swarm.TaskStateNew, swarm.TaskStateRunning)
	ev(old, now.Add(-time.Hour)) // replayed: not counted
	tk := task("t1", "s", swarm.TaskStateNew, swarm.TaskStateRunning)
	ev(tk, now)
	tk = task("t1", "s", swarm.TaskStateStarting, swarm.TaskStateRunning)
	ev(tk, now)
	tk = task("t1", "s", swarm.TaskStateRunning, swarm.TaskStateRunning)
	tk.CreatedAt, tk.Status.Timestamp = now, now.Add(1500*time.Millisecond)
	ev(tk, now)
	ev(tk, now) // the same state again: nothing changed
	if got := counterValue(t, "starting", "running", "progress") - before; got != 1 {
		t.Errorf("starting→running counted %v times, want 1", got)
	}
	if got := counterValue(t, "none", "new", "progress") - beforeNew; got != 1 {
		t.Errorf("new tasks counted %v, want 1 (the replayed one not)", got)
	}
}

// TestDashboardNamesExist: every metric the Grafana dashboard queries is
// one the daemon serves, so a rename cannot leave a panel empty.
func TestDashboardNamesExist(t *testing.T) {
	data, err := os.ReadFile("../../docs/grafana/shoal.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{
		// Registered by the daemon, over its executor and event bus.
		"engine_daemon_container_states_containers": true,
		"engine_daemon_events_subscribers_total":    true,
	}
	// Served once the first request is.
	metrics.APIRequestLatency.WithLabelValues("GET /_ping", "200")
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		served[f.GetName()] = true
	}
	descs := make(chan *prometheus.Desc, 100)
	NewCollector(nil).Describe(descs)
	close(descs)
	for d := range descs {
		served[regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]] = true
	}
	name := regexp.MustCompile(`\b(?:swarm|engine_daemon|shoal|process|go)_[a-z_]+\b`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
				if !served[n] && !served[base] {
					t.Errorf("panel %q queries %s, which the daemon does not serve", p.Title, n)
				}
			}
		}
	}
	if queries < 20 {
		t.Errorf("the dashboard has %d queries, want its panels", queries)
	}
}
