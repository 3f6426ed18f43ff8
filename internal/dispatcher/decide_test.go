package dispatcher

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNextStatus(t *testing.T) {
	at := func(s swarm.TaskState) swarm.TaskStatus { return swarm.TaskStatus{State: s, Timestamp: epoch} }
	tests := []struct {
		name      string
		cur, rep  swarm.TaskStatus
		wantApply bool
	}{
		{name: "assigned to accepted", cur: at(swarm.TaskStateAssigned), rep: at(swarm.TaskStateAccepted), wantApply: true},
		{name: "skips states", cur: at(swarm.TaskStateAssigned), rep: at(swarm.TaskStateRunning), wantApply: true},
		{name: "running to failed", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateFailed), wantApply: true},
		{name: "stale starting after running", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateStarting)},
		{name: "same state again", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateRunning)},
		{name: "complete is final", cur: at(swarm.TaskStateComplete), rep: at(swarm.TaskStateFailed)},
		{name: "failed is final", cur: at(swarm.TaskStateFailed), rep: at(swarm.TaskStateRejected)},
		{name: "orphaned is final", cur: at(swarm.TaskStateOrphaned), rep: at(swarm.TaskStateShutdown)},
		{name: "agent cannot set remove", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateRemove)},
		{name: "agent cannot set orphaned", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateOrphaned)},
		{name: "agent cannot set pending", cur: at(swarm.TaskStateNew), rep: at(swarm.TaskStatePending)},
		{name: "unknown state", cur: at(swarm.TaskStateAssigned), rep: at("bogus")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := nextStatus(tt.cur, tt.rep, epoch.Add(time.Hour))
			if ok != tt.wantApply {
				t.Fatalf("got apply %v, want %v", ok, tt.wantApply)
			}
			want := tt.cur
			if ok {
				want = tt.rep
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNextStatusStampsMissingTime(t *testing.T) {
	now := epoch.Add(time.Minute)
	got, ok := nextStatus(swarm.TaskStatus{State: swarm.TaskStateAssigned}, swarm.TaskStatus{State: swarm.TaskStateAccepted}, now)
	if !ok || !got.Timestamp.Equal(now) {
		t.Errorf("got %+v (applied %v), want accepted at %v", got, ok, now)
	}
}

func node(id string, state swarm.NodeState) *store.Node {
	return &store.Node{Node: swarm.Node{ID: id, Status: swarm.NodeStatus{State: state}}}
}

func TestExpired(t *testing.T) {
	const period = 5 * time.Second
	const timeout = period * HeartbeatGrace
	since := epoch
	tests := []struct {
		name     string
		nodes    []*store.Node
		lastSeen map[string]time.Time
		told     map[string]time.Duration
		period   time.Duration // the cluster's now; period when zero
		now      time.Time
		wantDown []string
		wantNext time.Time
	}{
		{
			name:     "heartbeat in time",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(10 * time.Second)},
			now:      epoch.Add(20 * time.Second),
			wantNext: epoch.Add(25 * time.Second),
		},
		{
			name:     "heartbeat missed",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady), node("b", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(5 * time.Second), "b": epoch.Add(12 * time.Second)},
			now:      epoch.Add(20 * time.Second),
			wantDown: []string{"a"},
			wantNext: epoch.Add(27 * time.Second),
		},
		{
			name:     "expires exactly at the deadline",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(5 * time.Second)},
			now:      epoch.Add(20 * time.Second),
			wantDown: []string{"a"},
		},
		{
			name:     "never seen by this leader: counted from when it began leading",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			now:      epoch.Add(10 * time.Second),
			wantNext: epoch.Add(timeout),
		},
		{
			name:     "never seen by this leader, grace over",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(-time.Hour)},
			now:      epoch.Add(timeout),
			wantDown: []string{"a"},
		},
		{
			name:     "short period: a node the new leader has not heard from gets NewLeaderGrace",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(-time.Second)},
			period:   time.Second,
			now:      epoch.Add(5 * time.Second),
			wantNext: epoch.Add(NewLeaderGrace),
		},
		{
			name:     "short period: once heard from, its own grace",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(time.Second)},
			period:   time.Second,
			now:      epoch.Add(5 * time.Second),
			wantDown: []string{"a"},
		},
		{
			name:     "period shortened: a node still on the old one keeps its grace",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(10 * time.Second)},
			told:     map[string]time.Duration{"a": period},
			period:   time.Second,
			now:      epoch.Add(20 * time.Second),
			wantNext: epoch.Add(25 * time.Second),
		},
		{
			name:     "period shortened: a node told the new one gets its short grace",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(10 * time.Second)},
			told:     map[string]time.Duration{"a": time.Second},
			period:   time.Second,
			now:      epoch.Add(14 * time.Second),
			wantDown: []string{"a"},
		},
		{
			name:  "nodes not ready are left alone",
			nodes: []*store.Node{node("a", swarm.NodeStateDown), node("b", swarm.NodeStateUnknown), node("c", swarm.NodeStateDisconnected)},
			now:   epoch.Add(time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.period
			if p == 0 {
				p = period
			}
			down, next := expired(tt.nodes, tt.lastSeen, tt.told, since, tt.now, p)
			if diff := cmp.Diff(tt.wantDown, down); diff != "" {
				t.Errorf("down (-want +got):\n%s", diff)
			}
			if !next.Equal(tt.wantNext) {
				t.Errorf("got next %v, want %v", next, tt.wantNext)
			}
		})
	}
}

func task(id, nodeID string, state, desired swarm.TaskState) *store.Task {
	return &store.Task{Task: swarm.Task{
		ID:           id,
		NodeID:       nodeID,
		DesiredState: desired,
		Status:       swarm.TaskStatus{State: state},
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
	}}
}

func TestNextAssignments(t *testing.T) {
	wide := &clusterWide{managers: []string{"10.0.0.1:2377"}, period: 5 * time.Second}
	view := func(tasks ...*store.Task) *nodeView {
		return &nodeView{node: node("n1", swarm.NodeStateReady), wide: wide, tasks: tasks}
	}
	t1 := task("t1", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)
	t2 := task("t2", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)
	t3 := task("t3", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)
	reported := func(t *store.Task) *store.Task {
		c := *t
		c.Status = swarm.TaskStatus{State: swarm.TaskStateRunning, Message: "started"}
		c.Version.Index = 9
		return &c
	}
	stopped := func(t *store.Task) *store.Task {
		c := *t
		c.DesiredState = swarm.TaskStateShutdown
		return &c
	}
	tests := []struct {
		name      string
		told, cur *nodeView
		wantSend  bool
		wantFull  bool
		wantTasks []string
	}{
		{name: "first message: the full set", cur: view(t1, t2), wantSend: true, wantFull: true, wantTasks: []string{"t1", "t2"}},
		{name: "first message without tasks", cur: view(), wantSend: true, wantFull: true},
		{name: "nothing changed", told: view(t1, t2), cur: view(t1, t2)},
		{name: "the agent's own status report", told: view(t1, t2), cur: view(reported(t1), t2)},
		{name: "desired state: only that task", told: view(t1, t2, t3), cur: view(t1, stopped(t2), t3), wantSend: true, wantTasks: []string{"t2"}},
		{name: "new tasks: only those", told: view(t2), cur: view(t1, t2, t3), wantSend: true, wantTasks: []string{"t1", "t3"}},
		{name: "a task gone: the full set", told: view(t1, t2, t3), cur: view(t1, t3), wantSend: true, wantFull: true, wantTasks: []string{"t1", "t3"}},
		{name: "the last task gone", told: view(t1), cur: view(), wantSend: true, wantFull: true},
		{name: "a task gone and another new", told: view(t1, t2), cur: view(t1, t3), wantSend: true, wantFull: true, wantTasks: []string{"t1", "t3"}},
		{name: "node drained", told: view(t1), cur: func() *nodeView {
			v := view(t1)
			v.node.Spec.Availability = swarm.NodeAvailabilityDrain
			return v
		}(), wantSend: true},
		{name: "node status only", told: view(t1), cur: func() *nodeView {
			v := view(t1)
			v.node.Status.Addr = "10.0.0.9"
			return v
		}()},
		{name: "managers", told: view(t1), cur: func() *nodeView {
			v := view(t1)
			v.wide = &clusterWide{managers: []string{"10.0.0.1:2377", "10.0.0.2:2377"}, period: wide.period}
			return v
		}(), wantSend: true},
		{name: "heartbeat period", told: view(t1), cur: func() *nodeView {
			v := view(t1)
			v.wide = &clusterWide{managers: wide.managers, period: time.Second}
			return v
		}(), wantSend: true},
		{name: "root CA", told: view(t1), cur: func() *nodeView {
			v := view(t1)
			v.wide = &clusterWide{managers: wide.managers, period: wide.period, rootCA: swarm.TLSInfo{TrustRoot: "new"}}
			return v
		}(), wantSend: true},
		{name: "cluster-wide part read again, same", told: view(t1), cur: func() *nodeView {
			v := view(t1)
			v.wide = &clusterWide{managers: []string{"10.0.0.1:2377"}, period: wide.period}
			return v
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, send := nextAssignments(tt.told, tt.cur)
			if send != tt.wantSend {
				t.Fatalf("got send %v, want %v", send, tt.wantSend)
			}
			if !send {
				return
			}
			if set.Full != tt.wantFull {
				t.Errorf("got full %v, want %v", set.Full, tt.wantFull)
			}
			if diff := cmp.Diff(tt.wantTasks, taskIDs(set)); diff != "" {
				t.Errorf("tasks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	manager := node("m2", swarm.NodeStateReady)
	manager.ManagerStatus = &swarm.ManagerStatus{Addr: "10.0.0.2:2377"}
	put := func(o any) store.Event { return store.Event{Op: store.OpPut, Object: o} }
	tests := []struct {
		name         string
		evs          []store.Event
		taskNode     map[string]string // before; nil for empty
		wantNodes    []string
		wantWide     bool
		wantReset    bool
		wantTaskNode map[string]string
		wantSecrets  []string
		wantConfigs  []string
	}{
		{name: "a task assigned", evs: []store.Event{put(task("t1", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning))},
			wantNodes: []string{"n1"}, wantTaskNode: map[string]string{"t1": "n1"}},
		{name: "an unassigned task", evs: []store.Event{put(task("t1", "", swarm.TaskStatePending, swarm.TaskStateRunning))},
			wantTaskNode: map[string]string{}},
		{name: "tasks of several nodes", evs: []store.Event{
			put(task("t1", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)),
			put(task("t2", "n2", swarm.TaskStateAssigned, swarm.TaskStateRunning)),
			put(task("t3", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)),
		}, wantNodes: []string{"n1", "n2"}, wantTaskNode: map[string]string{"t1": "n1", "t2": "n2", "t3": "n1"}},
		{name: "a task deleted", evs: []store.Event{{Op: store.OpDelete, Object: task("t1", "n1", swarm.TaskStateRunning, swarm.TaskStateRemove)}},
			taskNode: map[string]string{"t1": "n1", "t2": "n1"}, wantNodes: []string{"n1"}, wantTaskNode: map[string]string{"t2": "n1"}},
		{name: "a task moved: both nodes", evs: []store.Event{put(task("t1", "n2", swarm.TaskStateAssigned, swarm.TaskStateRunning))},
			taskNode: map[string]string{"t1": "n1"}, wantNodes: []string{"n1", "n2"}, wantTaskNode: map[string]string{"t1": "n2"}},
		{name: "a task unassigned: its old node", evs: []store.Event{put(task("t1", "", swarm.TaskStatePending, swarm.TaskStateRunning))},
			taskNode: map[string]string{"t1": "n1"}, wantNodes: []string{"n1"}, wantTaskNode: map[string]string{}},
		{name: "a worker's own object", evs: []store.Event{put(node("n1", swarm.NodeStateReady))}, wantNodes: []string{"n1"}},
		{name: "a node removed", evs: []store.Event{{Op: store.OpDelete, Object: node("n1", swarm.NodeStateDown)}}, wantNodes: []string{"n1"}},
		{name: "a manager", evs: []store.Event{put(manager)}, wantNodes: []string{"m2"}, wantWide: true},
		{name: "a manager demoted", evs: []store.Event{put(node("m1", swarm.NodeStateReady))}, wantNodes: []string{"m1"}, wantWide: true},
		{name: "cluster spec", evs: []store.Event{put(&store.Cluster{})}, wantWide: true},
		{name: "snapshot restored", evs: []store.Event{{Op: store.OpReset}}, wantReset: true},
		{name: "a service", evs: []store.Event{put(&store.Service{})}},
		{name: "a secret and a config", evs: []store.Event{put(secret("s1", "")), {Op: store.OpDelete, Object: config("c1")}},
			wantSecrets: []string{"s1"}, wantConfigs: []string{"c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			taskNode := map[string]string{}
			for k, v := range tt.taskNode {
				taskNode[k] = v
			}
			rt := route(tt.evs, map[string]bool{"m1": true}, taskNode)
			var nodes []string
			for id := range rt.nodes {
				nodes = append(nodes, id)
			}
			slices.Sort(nodes)
			if diff := cmp.Diff(tt.wantNodes, nodes); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
			if rt.wide != tt.wantWide || rt.reset != tt.wantReset {
				t.Errorf("got wide %v reset %v, want wide %v reset %v", rt.wide, rt.reset, tt.wantWide, tt.wantReset)
			}
			if diff := cmp.Diff(tt.wantSecrets, sortedKeys(rt.secrets)); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantConfigs, sortedKeys(rt.configs)); diff != "" {
				t.Errorf("configs (-want +got):\n%s", diff)
			}
			if tt.wantTaskNode == nil {
				tt.wantTaskNode = map[string]string{}
			}
			if diff := cmp.Diff(tt.wantTaskNode, taskNode); diff != "" {
				t.Errorf("task nodes after (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSameClusterWide(t *testing.T) {
	base := func() *clusterWide {
		return &clusterWide{managers: []string{"10.0.0.1:2377"}, managerIDs: map[string]bool{"m1": true}, period: 5 * time.Second}
	}
	tests := []struct {
		name   string
		change func(w *clusterWide)
		want   bool
	}{
		{name: "read again, same", change: func(*clusterWide) {}, want: true},
		{name: "a manager added", change: func(w *clusterWide) {
			w.managers = append(w.managers, "10.0.0.2:2377")
			w.managerIDs["m2"] = true
		}},
		{name: "a manager's ID only", change: func(w *clusterWide) { w.managerIDs = map[string]bool{"m9": true} }},
		{name: "heartbeat period", change: func(w *clusterWide) { w.period = time.Second }},
		{name: "root CA", change: func(w *clusterWide) { w.rootCA.TrustRoot = "x" }},
		{name: "root CA unreadable", change: func(w *clusterWide) { w.err = errors.New("bad certificate") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base(), base()
			tt.change(b)
			if got := sameClusterWide(a, b); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAssignmentStates(t *testing.T) {
	for s, want := range map[swarm.TaskState]bool{
		swarm.TaskStateNew:      false,
		swarm.TaskStatePending:  false,
		swarm.TaskStateAssigned: true,
		swarm.TaskStateRunning:  true,
		swarm.TaskStateFailed:   true, // its container stays until the task is deleted
	} {
		if got := inAssignments(s); got != want {
			t.Errorf("inAssignments(%s) got %v, want %v", s, got, want)
		}
	}
}

// using returns a task that uses the secrets and configs.
func using(id, nodeID string, state swarm.TaskState, secrets, configs []string) *store.Task {
	t := task(id, nodeID, state, swarm.TaskStateRunning)
	for _, s := range secrets {
		t.Spec.ContainerSpec.Secrets = append(t.Spec.ContainerSpec.Secrets, &swarm.SecretReference{SecretID: s, SecretName: "name-" + s})
	}
	for _, c := range configs {
		t.Spec.ContainerSpec.Configs = append(t.Spec.ContainerSpec.Configs, &swarm.ConfigReference{ConfigID: c, ConfigName: "name-" + c})
	}
	return t
}

func TestDependencyIDs(t *testing.T) {
	tests := []struct {
		name        string
		tasks       []*store.Task
		wantSecrets []string
		wantConfigs []string
	}{
		{name: "no tasks"},
		{name: "tasks without references", tasks: []*store.Task{assignedTask("t1"), assignedTask("t2")}},
		{name: "one task", tasks: []*store.Task{using("t1", "n1", swarm.TaskStateRunning, []string{"s2", "s1"}, []string{"c1"})},
			wantSecrets: []string{"s1", "s2"}, wantConfigs: []string{"c1"}},
		{name: "shared by tasks: once", tasks: []*store.Task{
			using("t1", "n1", swarm.TaskStateAssigned, []string{"s1"}, []string{"c1"}),
			using("t2", "n1", swarm.TaskStateRunning, []string{"s1", "s3"}, []string{"c1"}),
		}, wantSecrets: []string{"s1", "s3"}, wantConfigs: []string{"c1"}},
		{name: "ended tasks use nothing", tasks: []*store.Task{
			using("t1", "n1", swarm.TaskStateFailed, []string{"s1"}, []string{"c1"}),
			using("t2", "n1", swarm.TaskStateShutdown, []string{"s2"}, nil),
			using("t3", "n1", swarm.TaskStateStarting, []string{"s3"}, nil),
		}, wantSecrets: []string{"s3"}},
		{name: "a task without a container spec", tasks: []*store.Task{{Task: swarm.Task{ID: "t1", Status: swarm.TaskStatus{State: swarm.TaskStateRunning}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets, configs := dependencyIDs(tt.tasks)
			if diff := cmp.Diff(tt.wantSecrets, secrets); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantConfigs, configs); diff != "" {
				t.Errorf("configs (-want +got):\n%s", diff)
			}
		})
	}
}

func assignedTask(id string) *store.Task {
	return task(id, "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)
}

func TestUsesAny(t *testing.T) {
	secrets, configs := map[string]bool{"s1": true}, map[string]bool{"c1": true}
	tests := []struct {
		name string
		task *store.Task
		want bool
	}{
		{name: "uses the secret", task: using("t1", "n1", swarm.TaskStateRunning, []string{"s9", "s1"}, nil), want: true},
		{name: "uses the config", task: using("t1", "n1", swarm.TaskStateRunning, nil, []string{"c1"}), want: true},
		{name: "ended, still counts", task: using("t1", "n1", swarm.TaskStateFailed, []string{"s1"}, nil), want: true},
		{name: "uses others", task: using("t1", "n1", swarm.TaskStateRunning, []string{"s2"}, []string{"c2"})},
		{name: "a secret's ID as a config's", task: using("t1", "n1", swarm.TaskStateRunning, nil, []string{"s1"})},
		{name: "not assigned", task: using("t1", "", swarm.TaskStatePending, []string{"s1"}, nil)},
		{name: "no container spec", task: &store.Task{Task: swarm.Task{ID: "t1", NodeID: "n1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := usesAny(tt.task, secrets, configs); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func secret(id, label string) *store.Secret {
	s := &store.Secret{Secret: swarm.Secret{ID: id, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "name-" + id}, Data: []byte("data of " + id)}}}
	if label != "" {
		s.Spec.Labels = map[string]string{"l": label}
	}
	return s
}

func config(id string) *store.Config {
	return &store.Config{Config: swarm.Config{ID: id, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "name-" + id}, Data: []byte("data of " + id)}}}
}

func TestNextAssignmentsDependencies(t *testing.T) {
	wide := &clusterWide{period: 5 * time.Second}
	t1 := using("t1", "n1", swarm.TaskStateRunning, []string{"s1"}, []string{"c1"})
	t2 := using("t2", "n1", swarm.TaskStateAssigned, []string{"s2"}, nil)
	type deps struct {
		secrets []*store.Secret
		configs []*store.Config
	}
	view := func(d deps, tasks ...*store.Task) *nodeView {
		return &nodeView{node: node("n1", swarm.NodeStateReady), wide: wide, tasks: tasks, secrets: d.secrets, configs: d.configs}
	}
	s1, s2, c1 := secret("s1", ""), secret("s2", ""), config("c1")
	tests := []struct {
		name        string
		told, cur   *nodeView
		wantSend    bool
		wantFull    bool
		wantTasks   []string
		wantSecrets []string
		wantConfigs []string
	}{
		{name: "first message: all of them", cur: view(deps{[]*store.Secret{s1}, []*store.Config{c1}}, t1), wantSend: true, wantFull: true,
			wantTasks: []string{"t1"}, wantSecrets: []string{"s1"}, wantConfigs: []string{"c1"}},
		{name: "a new task brings its new secret only", told: view(deps{[]*store.Secret{s1}, []*store.Config{c1}}, t1),
			cur: view(deps{[]*store.Secret{s1, s2}, []*store.Config{c1}}, t1, t2), wantSend: true, wantTasks: []string{"t2"}, wantSecrets: []string{"s2"}},
		{name: "a secret read again, same", told: view(deps{[]*store.Secret{s1}, nil}, t1), cur: view(deps{[]*store.Secret{secret("s1", "")}, nil}, t1)},
		{name: "a secret relabelled", told: view(deps{[]*store.Secret{s1}, nil}, t1), cur: view(deps{[]*store.Secret{secret("s1", "x")}, nil}, t1),
			wantSend: true, wantSecrets: []string{"s1"}},
		{name: "a secret no longer used: the full set", told: view(deps{[]*store.Secret{s1, s2}, []*store.Config{c1}}, t1, t2),
			cur: view(deps{[]*store.Secret{s1}, []*store.Config{c1}}, t1, t2), wantSend: true, wantFull: true,
			wantTasks: []string{"t1", "t2"}, wantSecrets: []string{"s1"}, wantConfigs: []string{"c1"}},
		{name: "a config no longer used: the full set", told: view(deps{[]*store.Secret{s1}, []*store.Config{c1}}, t1),
			cur: view(deps{[]*store.Secret{s1}, nil}, t1), wantSend: true, wantFull: true, wantTasks: []string{"t1"}, wantSecrets: []string{"s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, send := nextAssignments(tt.told, tt.cur)
			if send != tt.wantSend {
				t.Fatalf("got send %v, want %v", send, tt.wantSend)
			}
			if !send {
				return
			}
			if set.Full != tt.wantFull {
				t.Errorf("got full %v, want %v", set.Full, tt.wantFull)
			}
			var secrets, configs []string
			for _, s := range set.Secrets {
				secrets = append(secrets, s.ID)
			}
			for _, c := range set.Configs {
				configs = append(configs, c.ID)
			}
			if diff := cmp.Diff(tt.wantTasks, taskIDs(set)); diff != "" {
				t.Errorf("tasks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSecrets, secrets); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantConfigs, configs); diff != "" {
				t.Errorf("configs (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedKeys(m map[string]bool) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
