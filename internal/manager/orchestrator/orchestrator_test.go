package orchestrator_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/manager/restart"
	"github.com/shoal-project/shoal/internal/store"
)

var now = ct.Epoch.Add(time.Hour)

func ptr[T any](v T) *T { return &v }

// summary writes a result as one line per change, for diffs: "t1→shutdown"
// for a changed task, "+new1 slot=1 ready" for a created one,
// "svc job=2" for a job status.
func summary(r orchestrator.Result) []string {
	var out []string
	for _, c := range r.Changes {
		var parts []string
		for _, t := range c.Tasks {
			if strings.HasPrefix(t.ID, "new") {
				where := fmt.Sprintf("slot=%d", t.Slot)
				if t.Slot == 0 {
					where = "node=" + t.NodeID
				}
				parts = append(parts, fmt.Sprintf("+%s %s %s", t.ID, where, t.DesiredState))
			} else {
				parts = append(parts, fmt.Sprintf("%s→%s", t.ID, t.DesiredState))
			}
		}
		for _, s := range c.Services {
			parts = append(parts, fmt.Sprintf("%s job=%d", s.ID, s.JobStatus.JobIteration.Index))
		}
		out = append(out, strings.Join(parts, ", "))
	}
	sort.Strings(out)
	return out
}

func decide(snap controller.Snapshot) orchestrator.Result {
	n := 0
	return orchestrator.Decide(orchestrator.Input{Snapshot: snap, Now: now, NewID: func() string { n++; return fmt.Sprintf("new%d", n) }})
}

// at builds a task of svc created d before now.
func at(id string, svc *store.Service, slot int, node string, d time.Duration, mods ...func(*store.Task)) *store.Task {
	return ct.Task(id, svc, slot, node, append([]func(*store.Task){ct.Created(now.Add(-d))}, mods...)...)
}

var (
	failed   = ct.State(swarm.TaskStateFailed, now.Add(-time.Second))
	complete = ct.State(swarm.TaskStateComplete, now.Add(-time.Second))
	shutdown = ct.Desired(swarm.TaskStateShutdown)
	ready    = ct.Desired(swarm.TaskStateReady)
	removing = ct.Desired(swarm.TaskStateRemove)
)

func TestDecideReplicated(t *testing.T) {
	web := ct.Service("svc", "web", 3)
	noDelay := ct.Service("svc", "web", 1, func(s *store.Service) {
		s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Delay: ptr(time.Duration(0))}
	})
	one := ct.Service("svc", "web", 1)
	policy := func(p swarm.RestartPolicy) *store.Service {
		return ct.Service("svc", "web", 1, func(s *store.Service) { s.Spec.TaskTemplate.RestartPolicy = &p })
	}
	nodes := []*store.Node{
		ct.Node("n1"),
		ct.Node("n2", func(n *store.Node) { n.Status.State = swarm.NodeStateDown }),
		ct.Node("n3", func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityDrain }),
	}
	tests := []struct {
		name     string
		services []*store.Service
		tasks    []*store.Task
		want     []string
		wantNext time.Time
	}{
		{
			name:     "new service gets one task per slot",
			services: []*store.Service{web},
			want:     []string{"+new1 slot=1 running", "+new2 slot=2 running", "+new3 slot=3 running"},
		},
		{
			name:     "converged service is left alone",
			services: []*store.Service{web},
			tasks:    []*store.Task{at("t1", web, 1, "n1", time.Hour), at("t2", web, 2, "n1", time.Hour), at("t3", web, 3, "n1", time.Hour)},
		},
		{
			name:     "scale down removes slots without a running task first, then the highest",
			services: []*store.Service{ct.Service("svc", "web", 1)},
			tasks: []*store.Task{
				at("t1", web, 1, "n1", time.Hour),
				at("t2", web, 2, "", time.Hour, ct.State(swarm.TaskStatePending, now)),
				at("t3", web, 3, "n1", time.Hour),
			},
			want: []string{"t2→remove", "t3→remove"},
		},
		{
			name:     "scale down removes a slot's history with it",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", web, 1, "n1", time.Hour),
				at("t2", web, 2, "n1", time.Hour, failed, shutdown),
				at("t3", web, 2, "n1", time.Minute),
			},
			want: []string{"t2→remove, t3→remove"},
		},
		{
			name:     "scale up reuses the lowest free slot numbers",
			services: []*store.Service{web},
			tasks: []*store.Task{
				at("t2", web, 2, "n1", time.Hour),
				at("t1", web, 1, "n1", time.Hour, ct.State(swarm.TaskStateShutdown, now), removing),
			},
			want: []string{"+new1 slot=1 running", "+new2 slot=3 running"},
		},
		{
			name:     "failed task is shut down and replaced after the delay",
			services: []*store.Service{one},
			tasks:    []*store.Task{at("t1", one, 1, "n1", time.Hour, failed)},
			want:     []string{"t1→shutdown, +new1 slot=1 ready"},
		},
		{
			name:     "without a delay the replacement runs at once",
			services: []*store.Service{noDelay},
			tasks:    []*store.Task{at("t1", noDelay, 1, "n1", time.Hour, failed)},
			want:     []string{"t1→shutdown, +new1 slot=1 running"},
		},
		{
			name:     "condition none shuts the task down without replacement",
			services: []*store.Service{policy(swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone})},
			tasks:    []*store.Task{at("t1", one, 1, "n1", time.Hour, complete)},
			want:     []string{"t1→shutdown"},
		},
		{
			name:     "a slot the restart policy gave up on stays as it is",
			services: []*store.Service{policy(swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone})},
			tasks:    []*store.Task{at("t1", one, 1, "n1", time.Hour, complete, shutdown)},
		},
		{
			name:     "on-failure leaves a completed task be",
			services: []*store.Service{policy(swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure})},
			tasks:    []*store.Task{at("t1", one, 1, "n1", time.Hour, complete)},
			want:     []string{"t1→shutdown"},
		},
		{
			name:     "max attempts reached: no more replacements",
			services: []*store.Service{policy(swarm.RestartPolicy{MaxAttempts: ptr(uint64(1))})},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, failed, shutdown),
				at("t2", one, 1, "n1", time.Minute, failed),
			},
			want: []string{"t2→shutdown"},
		},
		{
			name:     "task on a down node is replaced at once: its node failed, not the task",
			services: []*store.Service{one},
			tasks:    []*store.Task{at("t1", one, 1, "n2", time.Hour)},
			want:     []string{"t1→shutdown, +new1 slot=1 running"},
		},
		{
			name:     "task on a removed node is replaced at once",
			services: []*store.Service{one},
			tasks:    []*store.Task{at("t1", one, 1, "gone", time.Hour)},
			want:     []string{"t1→shutdown, +new1 slot=1 running"},
		},
		{
			name:     "task that failed before its node went down is replaced after the delay",
			services: []*store.Service{one},
			tasks:    []*store.Task{at("t1", one, 1, "n2", time.Hour, failed)},
			want:     []string{"t1→shutdown, +new1 slot=1 ready"},
		},
		{
			name:     "task on a down node that exhausted max attempts is not replaced",
			services: []*store.Service{policy(swarm.RestartPolicy{MaxAttempts: ptr(uint64(1))})},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, failed, shutdown),
				at("t2", one, 1, "n2", time.Minute),
			},
			want: []string{"t2→shutdown"},
		},
		{
			name:     "held replacement of a task lost with its node starts without delay",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n2", time.Hour, shutdown),
				at("t2", one, 1, "", 0, ready, ct.State(swarm.TaskStateNew, now)),
			},
			want: []string{"t2→running"},
		},
		{
			name:     "held replacement of a task that failed before its node went down waits out the delay",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n2", time.Hour, failed, shutdown),
				at("t2", one, 1, "", 2*time.Second, ready, ct.State(swarm.TaskStateNew, now.Add(-2*time.Second))),
			},
			wantNext: now.Add(3 * time.Second),
		},
		{
			name:     "task on a drained node moves at once",
			services: []*store.Service{one},
			tasks:    []*store.Task{at("t1", one, 1, "n3", time.Hour)},
			want:     []string{"t1→shutdown, +new1 slot=1 running"},
		},
		{
			name:     "held replacement starts after the restart delay",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, failed, shutdown),
				at("t2", one, 1, "", 6*time.Second, ready, ct.State(swarm.TaskStateNew, now.Add(-6*time.Second))),
			},
			want: []string{"t2→running"},
		},
		{
			name:     "held replacement waits for the restart delay",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, failed, shutdown),
				at("t2", one, 1, "", 2*time.Second, ready, ct.State(swarm.TaskStateNew, now.Add(-2*time.Second))),
			},
			wantNext: now.Add(3 * time.Second),
		},
		{
			name:     "held replacement counts the delay from its creation, not its latest status",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, failed, shutdown),
				at("t2", one, 1, "n1", 6*time.Second, ready, ct.State(swarm.TaskStateReady, now.Add(-time.Second))),
			},
			want: []string{"t2→running"},
		},
		{
			name:     "held replacement prepared on a node still waits out the delay",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, failed, shutdown),
				at("t2", one, 1, "n1", 2*time.Second, ready, ct.State(swarm.TaskStateReady, now)),
			},
			wantNext: now.Add(3 * time.Second),
		},
		{
			name:     "held replacement waits for the task it replaces to stop",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, shutdown),
				at("t2", one, 1, "", time.Minute, ready, ct.State(swarm.TaskStateNew, now.Add(-time.Minute))),
			},
		},
		{
			name:     "held replacement of a task we stopped starts without delay",
			services: []*store.Service{one},
			tasks: []*store.Task{
				at("t1", one, 1, "n1", time.Hour, shutdown, ct.State(swarm.TaskStateShutdown, now)),
				at("t2", one, 1, "", 0, ready, ct.State(swarm.TaskStateNew, now)),
			},
			want: []string{"t2→running"},
		},
		{
			name:     "two live tasks in a slot (start-first) are left to the updater",
			services: []*store.Service{one},
			tasks:    []*store.Task{at("t1", one, 1, "n1", time.Hour), at("t2", one, 1, "n1", time.Minute)},
		},
		{
			name:     "a task that ends beside another live one is not replaced",
			services: []*store.Service{one},
			tasks:    []*store.Task{at("t1", one, 1, "n1", time.Hour, failed), at("t2", one, 1, "n1", time.Minute)},
			want:     []string{"t1→shutdown"},
		},
		{
			name:  "tasks of a removed service are removed",
			tasks: []*store.Task{at("t1", one, 1, "n1", time.Hour), at("t2", one, 1, "n1", time.Hour, failed, removing)},
			want:  []string{"t1→remove"},
		},
		{
			name:     "a plain container's network attachment, of no service, is left alone",
			services: []*store.Service{one},
			tasks: []*store.Task{at("t1", one, 1, "n1", time.Hour), {Task: swarm.Task{
				ID: "a1", NodeID: "n1", DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning},
				Spec: swarm.TaskSpec{NetworkAttachmentSpec: &swarm.NetworkAttachmentSpec{ContainerID: "c1"}},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := decide(controller.Snapshot{Nodes: nodes, Services: tt.services, Tasks: tt.tasks})
			if diff := cmp.Diff(tt.want, summary(r)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if !r.Next.Equal(tt.wantNext) {
				t.Errorf("got next %v, want %v", r.Next, tt.wantNext)
			}
		})
	}
}

func TestDecideGlobal(t *testing.T) {
	g := ct.Service("svc", "agent", 0, ct.Global)
	onSSD := ct.Service("svc", "agent", 0, ct.Global, func(s *store.Service) {
		s.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.labels.disk==ssd"}}
	})
	nodes := []*store.Node{
		ct.Node("active", func(n *store.Node) { n.Spec.Labels["disk"] = "ssd" }),
		ct.Node("paused", func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityPause }),
		ct.Node("drained", func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityDrain }),
		ct.Node("down", func(n *store.Node) { n.Status.State = swarm.NodeStateDown }),
		ct.Node("unknown", func(n *store.Node) { n.Status.State = swarm.NodeStateUnknown }),
	}
	tests := []struct {
		name     string
		services []*store.Service
		tasks    []*store.Task
		want     []string
	}{
		{
			name:     "only ready active nodes get new tasks",
			services: []*store.Service{g},
			want:     []string{"+new1 node=active running"},
		},
		{
			name:     "paused and unknown nodes keep their tasks; drained and down ones lose them",
			services: []*store.Service{g},
			tasks: []*store.Task{
				at("t1", g, 0, "active", time.Hour),
				at("t2", g, 0, "paused", time.Hour),
				at("t3", g, 0, "drained", time.Hour),
				at("t4", g, 0, "down", time.Hour),
				at("t5", g, 0, "unknown", time.Hour),
			},
			want: []string{"t3→remove", "t4→remove"},
		},
		{
			name:     "a node that stops matching the constraints loses its task and history",
			services: []*store.Service{onSSD},
			tasks: []*store.Task{
				at("t1", g, 0, "active", time.Hour),
				at("t2", g, 0, "paused", time.Hour),
				at("t3", g, 0, "paused", 2*time.Hour, failed, shutdown),
			},
			want: []string{"t2→remove, t3→remove"},
		},
		{
			name:     "failed task is replaced on the same node",
			services: []*store.Service{g},
			tasks:    []*store.Task{at("t1", g, 0, "active", time.Hour, failed)},
			want:     []string{"t1→shutdown, +new1 node=active ready"},
		},
		{
			name:     "a node eligible again after losing its task gets a new one",
			services: []*store.Service{g},
			tasks:    []*store.Task{at("t1", g, 0, "active", time.Hour, removing, ct.State(swarm.TaskStateShutdown, now))},
			want:     []string{"+new1 node=active running"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := decide(controller.Snapshot{Nodes: nodes, Services: tt.services, Tasks: tt.tasks})
			if diff := cmp.Diff(tt.want, summary(r)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideJobs(t *testing.T) {
	job := func(version uint64, maxConcurrent, total uint64) *store.Service {
		return ct.Service("svc", "batch", 0, func(s *store.Service) {
			s.SpecVersion = version
			s.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &maxConcurrent, TotalCompletions: &total}}
			s.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: version}}
		})
	}
	gjob := ct.Service("svc", "once", 0, func(s *store.Service) {
		s.Spec.Mode = swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
		s.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: 1}}
	})
	run := func(i uint64) func(*store.Task) {
		return func(t *store.Task) { t.JobIteration = &swarm.Version{Index: i}; t.SpecVersion = i }
	}
	fresh := job(1, 2, 5)
	fresh.JobStatus = nil
	tests := []struct {
		name     string
		services []*store.Service
		tasks    []*store.Task
		want     []string
	}{
		{
			name:     "a new job starts MaxConcurrent tasks and records its run",
			services: []*store.Service{fresh},
			want:     []string{"+new1 slot=1 running", "+new2 slot=2 running", "svc job=1"},
		},
		{
			name:     "a completed task is marked complete and the next slot starts",
			services: []*store.Service{job(1, 2, 5)},
			tasks:    []*store.Task{at("t1", fresh, 1, "n1", time.Hour, complete, run(1)), at("t2", fresh, 2, "n1", time.Hour, run(1))},
			want:     []string{"+new1 slot=3 running", "t1→complete"},
		},
		{
			name:     "a failed job task is restarted in its slot",
			services: []*store.Service{job(1, 1, 1)},
			tasks:    []*store.Task{at("t1", fresh, 1, "n1", time.Hour, failed, run(1))},
			want:     []string{"t1→shutdown, +new1 slot=1 ready"},
		},
		{
			name:     "a finished job is left alone",
			services: []*store.Service{job(1, 2, 2)},
			tasks: []*store.Task{
				at("t1", fresh, 1, "n1", time.Hour, complete, run(1), ct.Desired(swarm.TaskStateComplete)),
				at("t2", fresh, 2, "n1", time.Hour, complete, run(1), ct.Desired(swarm.TaskStateComplete)),
			},
		},
		{
			name:     "a spec change runs the job again and stops the old run",
			services: []*store.Service{func() *store.Service { s := job(2, 1, 1); s.JobStatus = nil; return s }()},
			tasks: []*store.Task{
				at("t1", fresh, 1, "n1", time.Hour, run(1)),
				at("t0", fresh, 1, "n1", 2*time.Hour, complete, run(1), ct.Desired(swarm.TaskStateComplete)),
			},
			want: []string{"+new1 slot=1 running", "svc job=2", "t1→shutdown"},
		},
		{
			name:     "a global job runs once per node, including new ones",
			services: []*store.Service{gjob},
			tasks:    []*store.Task{at("t1", gjob, 0, "n1", time.Hour, complete, run(1), ct.Desired(swarm.TaskStateComplete))},
			want:     []string{"+new1 node=n2 running"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := []*store.Node{ct.Node("n1"), ct.Node("n2")}
			r := decide(controller.Snapshot{Nodes: nodes, Services: tt.services, Tasks: tt.tasks})
			if diff := cmp.Diff(tt.want, summary(r)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewTaskCarriesServiceNameAndSpec(t *testing.T) {
	svc := ct.Service("svc", "web", 1, func(s *store.Service) {
		s.Spec.Labels = map[string]string{"tier": "front"}
		s.SpecVersion = 7
	})
	cluster := &store.Cluster{}
	cluster.Spec.TaskDefaults.LogDriver = &swarm.Driver{Name: "json-file"}
	got := orchestrator.NewTask("t1", svc, cluster, 2, "", swarm.TaskStateRunning, now)
	want := &store.Task{
		Task: swarm.Task{
			ID:           "t1",
			Annotations:  swarm.Annotations{Labels: map[string]string{"tier": "front", orchestrator.ServiceNameLabel: "web"}},
			Spec:         svc.Spec.TaskTemplate,
			ServiceID:    "svc",
			Slot:         2,
			DesiredState: swarm.TaskStateRunning,
			Status:       swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateNew, Message: "created"},
		},
		SpecVersion: 7,
	}
	want.Spec.LogDriver = &swarm.Driver{Name: "json-file"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewTask (-want +got):\n%s", diff)
	}
	if !orchestrator.UpToDate(got, svc, cluster) {
		t.Errorf("a new task is not up to date with its service")
	}
}

func TestStopCause(t *testing.T) {
	svc := ct.Service("svc", "web", 1)
	nodes := orchestrator.IndexNodes([]*store.Node{
		ct.Node("up"),
		ct.Node("down", func(n *store.Node) { n.Status.State = swarm.NodeStateDown }),
	})
	tests := []struct {
		name string
		task *store.Task
		want restart.Cause
	}{
		{"failed on a node that is up", at("t", svc, 1, "up", time.Hour, failed), restart.Ended},
		{"completed", at("t", svc, 1, "up", time.Hour, complete), restart.Ended},
		{"reported shutdown", at("t", svc, 1, "up", time.Hour, ct.State(swarm.TaskStateShutdown, now)), restart.Stopped},
		{"running on a down node", at("t", svc, 1, "down", time.Hour), restart.NodeLost},
		{"running on a removed node", at("t", svc, 1, "gone", time.Hour), restart.NodeLost},
		{"failed, then its node went down", at("t", svc, 1, "down", time.Hour, failed), restart.Ended},
		{"shut down, then its node went down", at("t", svc, 1, "down", time.Hour, ct.State(swarm.TaskStateShutdown, now)), restart.Stopped},
		{"never placed", at("t", svc, 1, "", time.Hour, ct.State(swarm.TaskStatePending, now)), restart.Ended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nodes.StopCause(tt.task); got != tt.want {
				t.Errorf("got cause %d, want %d", got, tt.want)
			}
		})
	}
}
