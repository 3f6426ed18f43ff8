package updater_test

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
	"github.com/shoal-project/shoal/internal/manager/updater"
	"github.com/shoal-project/shoal/internal/store"
)

var (
	now     = ct.Epoch.Add(time.Hour)
	started = now.Add(-time.Minute)
)

// summary writes a result one line per change: "o1→shutdown" for a
// changed task, "+new1 slot=1 ready" for a new one, "svc paused: …" for a
// service.
func summary(r updater.Result) []string {
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
			if s.UpdateStatus == nil {
				parts = append(parts, s.ID+" without update status")
				continue
			}
			p := fmt.Sprintf("%s %s", s.ID, s.UpdateStatus.State)
			if s.UpdateStatus.Message != "" {
				p += ": " + s.UpdateStatus.Message
			}
			if s.UpdateStatus.State == swarm.UpdateStateRollbackStarted {
				p += fmt.Sprintf(" (spec %d, image %s)", s.SpecVersion, s.Spec.TaskTemplate.ContainerSpec.Image)
			}
			parts = append(parts, p)
		}
		out = append(out, strings.Join(parts, ", "))
	}
	sort.Strings(out)
	return out
}

// service returns web at SpecVersion 2 (image busybox:new, replicas 3)
// updating since started, whose previous spec is busybox:old.
func service(mods ...func(*store.Service)) *store.Service {
	return ct.Service("svc", "web", 3, append([]func(*store.Service){func(s *store.Service) {
		s.SpecVersion = 2
		prev := s.Spec
		prev.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "busybox:old"}
		s.PreviousSpec = &prev
		s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "busybox:new"}
		s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &started}
	}}, mods...)...)
}

func config(c swarm.UpdateConfig) func(*store.Service) {
	return func(s *store.Service) { s.Spec.UpdateConfig = &c }
}

// old is a running task of the previous spec.
func old(id string, svc *store.Service, slot int, mods ...func(*store.Task)) *store.Task {
	t := ct.Task(id, svc, slot, "n1", ct.Created(ct.Epoch))
	t.Spec = svc.PreviousSpec.TaskTemplate
	t.SpecVersion = 1
	for _, m := range mods {
		m(t)
	}
	return t
}

// fresh is a task of the current spec created by the update.
func fresh(id string, svc *store.Service, slot int, mods ...func(*store.Task)) *store.Task {
	return ct.Task(id, svc, slot, "n1", append([]func(*store.Task){ct.Created(started.Add(time.Second))}, mods...)...)
}

func runningFor(d time.Duration) func(*store.Task) {
	return ct.State(swarm.TaskStateRunning, now.Add(-d))
}

var stopped = []func(*store.Task){ct.Desired(swarm.TaskStateShutdown), ct.State(swarm.TaskStateShutdown, started)}

func olds(svc *store.Service, slots ...int) []*store.Task {
	var out []*store.Task
	for _, n := range slots {
		out = append(out, old(fmt.Sprintf("o%d", n), svc, n))
	}
	return out
}

func TestDecide(t *testing.T) {
	fresh3 := func(svc *store.Service, d time.Duration) []*store.Task {
		return []*store.Task{
			old("o1", svc, 1, stopped...), fresh("f1", svc, 1, runningFor(d)),
			old("o2", svc, 2, stopped...), fresh("f2", svc, 2, runningFor(d)),
			old("o3", svc, 3, stopped...), fresh("f3", svc, 3, runningFor(d)),
		}
	}
	tests := []struct {
		name     string
		svc      *store.Service
		tasks    func(svc *store.Service) []*store.Task
		seen     map[string]time.Time
		want     []string
		wantNext time.Time
	}{
		{
			name:  "an update starts by recording its status",
			svc:   service(func(s *store.Service) { s.UpdateStatus = nil }),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"svc updating: update in progress"},
		},
		{
			name: "a scale is no update",
			svc:  ct.Service("svc", "web", 3, func(s *store.Service) { s.SpecVersion = 2 }),
			tasks: func(s *store.Service) []*store.Task {
				return []*store.Task{ct.Task("t1", s, 1, "n1", func(t *store.Task) { t.SpecVersion = 1 })}
			},
		},
		{
			name:  "stop-first, one at a time: the old task stops, the new one waits",
			svc:   service(),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"o1→shutdown, +new1 slot=1 ready"},
		},
		{
			name:  "start-first, two at a time: new tasks start beside the old",
			svc:   service(config(swarm.UpdateConfig{Parallelism: 2, Order: swarm.UpdateOrderStartFirst})),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"+new1 slot=1 running", "+new2 slot=2 running"},
		},
		{
			name:  "parallelism 0 updates every slot at once",
			svc:   service(config(swarm.UpdateConfig{Parallelism: 0})),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"o1→shutdown, +new1 slot=1 ready", "o2→shutdown, +new2 slot=2 ready", "o3→shutdown, +new3 slot=3 ready"},
		},
		{
			name: "slots whose old task is not running go first",
			svc:  service(),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2), old("o3", s, 3, ct.State(swarm.TaskStatePending, now)))
			},
			want: []string{"o3→shutdown, +new1 slot=3 running"},
		},
		{
			name: "a slot in flight holds its unit",
			svc:  service(),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateStarting, now)))
			},
			wantNext: started.Add(time.Second + updater.DefaultMonitor + updater.DefaultStartTimeout),
		},
		{
			name: "the delay after a new task starts holds its unit",
			svc:  service(config(swarm.UpdateConfig{Parallelism: 1, Delay: 10 * time.Second})),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, runningFor(3*time.Second)))
			},
			wantNext: now.Add(2 * time.Second),
		},
		{
			name: "after the delay the next slot goes",
			svc:  service(config(swarm.UpdateConfig{Parallelism: 1, Delay: 10 * time.Second})),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, runningFor(11*time.Second)))
			},
			want: []string{"o2→shutdown, +new1 slot=2 ready"},
		},
		{
			name: "start-first stops the old task once the new one runs",
			svc:  service(config(swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst})),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Second)))
			},
			want:     []string{"o1→shutdown"},
			wantNext: now.Add(4 * time.Second),
		},
		{
			name:     "not complete while the last tasks are watched",
			svc:      service(config(swarm.UpdateConfig{Parallelism: 3})),
			tasks:    func(s *store.Service) []*store.Task { return fresh3(s, time.Second) },
			wantNext: now.Add(4 * time.Second),
		},
		{
			name:  "complete once every new task ran through Monitor",
			svc:   service(config(swarm.UpdateConfig{Parallelism: 3})),
			tasks: func(s *store.Service) []*store.Task { return fresh3(s, 6*time.Second) },
			want:  []string{"svc completed: update completed"},
		},
		{
			name: "a new task failing within Monitor pauses the update",
			svc:  service(),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateFailed, now.Add(-time.Second))))
			},
			seen: map[string]time.Time{"f1": now.Add(-3 * time.Second)},
			want: []string{"svc paused: update paused due to failure or early termination of task f1"},
		},
		{
			name: "a new task failing after Monitor is no failure",
			svc:  service(),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateFailed, now.Add(-time.Second)), ct.Desired(swarm.TaskStateShutdown)),
					fresh("f1b", s, 1, runningFor(20*time.Second)))
			},
			seen: map[string]time.Time{"f1": now.Add(-30 * time.Second)},
			want: []string{"o2→shutdown, +new1 slot=2 ready"},
		},
		{
			name: "a task rejected before it ran is a failure",
			svc:  service(),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateRejected, now.Add(-time.Second))))
			},
			want: []string{"svc paused: update paused due to failure or early termination of task f1"},
		},
		{
			name: "what ended before this updater watched is not held against the update",
			svc:  service(),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateRejected, now.Add(-time.Hour)), ct.Desired(swarm.TaskStateShutdown)),
					fresh("f1b", s, 1, runningFor(20*time.Second)))
			},
			want: []string{"o2→shutdown, +new1 slot=2 ready"},
		},
		{
			name: "a task that never starts counts as failed after Monitor and the start timeout",
			svc:  service(func(s *store.Service) { st := now.Add(-time.Hour); s.UpdateStatus.StartedAt = &st }),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.Created(now.Add(-10*time.Minute)), ct.State(swarm.TaskStatePending, now)))
			},
			want: []string{"svc paused: update paused due to failure or early termination of task f1"},
		},
		{
			name: "continue goes on past failures",
			svc:  service(config(swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionContinue})),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateFailed, now.Add(-time.Second)), ct.Desired(swarm.TaskStateShutdown)),
					fresh("f1b", s, 1, ct.Desired(swarm.TaskStateReady), ct.State(swarm.TaskStateNew, now)))
			},
			want:     []string{"o2→shutdown, +new1 slot=2 ready"},
			wantNext: started.Add(time.Second + updater.DefaultMonitor + updater.DefaultStartTimeout),
		},
		{
			name: "failures within MaxFailureRatio are tolerated",
			svc:  service(config(swarm.UpdateConfig{Parallelism: 1, MaxFailureRatio: 0.4})),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateFailed, now.Add(-time.Second))))
			},
			want: []string{"o2→shutdown, +new1 slot=2 ready"},
		},
		{
			name: "failure action rollback restores the previous spec",
			svc:  service(config(swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionRollback})),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateFailed, now.Add(-time.Second))))
			},
			// The rollback's first step goes with the spec change.
			want: []string{"f1→shutdown, +new1 slot=1 running, svc rollback_started: update rolled back due to failure or early termination of task f1 (spec 3, image busybox:old)"},
		},
		{
			name: "a rollback walks the slots with the rollback config",
			svc: service(func(s *store.Service) {
				s.Spec.RollbackConfig = &swarm.UpdateConfig{Parallelism: 2, Order: swarm.UpdateOrderStartFirst}
				s.UpdateStatus.State = swarm.UpdateStateRollbackStarted
			}),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"+new1 slot=1 running", "+new2 slot=2 running"},
		},
		{
			name: "a rollback that fails pauses",
			svc: service(func(s *store.Service) {
				s.Spec.RollbackConfig = &swarm.UpdateConfig{FailureAction: swarm.UpdateFailureActionRollback}
				s.UpdateStatus.State = swarm.UpdateStateRollbackStarted
			}),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 2, 3), old("o1", s, 1, stopped...), fresh("f1", s, 1, ct.State(swarm.TaskStateFailed, now.Add(-time.Second))))
			},
			want: []string{"svc rollback_paused: rollback paused due to failure or early termination of task f1"},
		},
		{
			name: "a rollback completes",
			svc: service(config(swarm.UpdateConfig{Parallelism: 3}), func(s *store.Service) {
				s.UpdateStatus.State = swarm.UpdateStateRollbackStarted
			}),
			tasks: func(s *store.Service) []*store.Task { return fresh3(s, time.Minute) },
			want:  []string{"svc rollback_completed: rollback completed"},
		},
		{
			name:  "a paused update waits for the next spec change",
			svc:   service(func(s *store.Service) { s.UpdateStatus.State = swarm.UpdateStatePaused }),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
		},
		{
			name: "a slot the restart policy gave up on is run again with the new spec",
			svc:  service(),
			tasks: func(s *store.Service) []*store.Task {
				return []*store.Task{old("o1", s, 1, ct.Desired(swarm.TaskStateShutdown), ct.State(swarm.TaskStateComplete, ct.Epoch))}
			},
			want: []string{"+new1 slot=1 running"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			in := updater.Input{
				Snapshot: controller.Snapshot{Nodes: []*store.Node{ct.Node("n1")}, Services: []*store.Service{tt.svc}, Tasks: tt.tasks(tt.svc)},
				Now:      now,
				NewID:    func() string { n++; return fmt.Sprintf("new%d", n) },
				Seen:     tt.seen,
				Since:    started,
			}
			r := updater.Decide(in)
			if diff := cmp.Diff(tt.want, summary(r)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if !r.Next.Equal(tt.wantNext) {
				t.Errorf("got next %v, want %v", r.Next, tt.wantNext)
			}
		})
	}
}

func TestDecideGlobalWaitsForNodesThatTakeNoTasks(t *testing.T) {
	svc := service(ct.Global, config(swarm.UpdateConfig{Parallelism: 0}))
	nodes := []*store.Node{ct.Node("n1"), ct.Node("n2", func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityPause })}
	o1 := old("o1", svc, 0)
	o2 := old("o2", svc, 0, func(t *store.Task) { t.NodeID = "n2" })
	r := updater.Decide(updater.Input{Snapshot: controller.Snapshot{Nodes: nodes, Services: []*store.Service{svc}, Tasks: []*store.Task{o1, o2}}, Now: now, Since: started,
		NewID: func() string { return "new1" }})
	if diff := cmp.Diff([]string{"o1→shutdown, +new1 node=n1 ready"}, summary(r)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestConfigOfDefaults(t *testing.T) {
	want := updater.Config{Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
	if diff := cmp.Diff(want, updater.ConfigOf(nil)); diff != "" {
		t.Errorf("ConfigOf(nil) (-want +got):\n%s", diff)
	}
	got := updater.ConfigOf(&swarm.UpdateConfig{Parallelism: 0, Order: "start-first", Monitor: time.Minute})
	want = updater.Config{Parallelism: 0, FailureAction: "pause", Monitor: time.Minute, Order: "start-first"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConfigOf (-want +got):\n%s", diff)
	}
}

// An update of every slot at once (parallelism 0) starts a batch per
// pass, shared by the services that update, and asks for the next pass
// at once.
func TestDecideWithinBudget(t *testing.T) {
	const budget = 10
	a := service(config(swarm.UpdateConfig{Parallelism: 0}))
	b := service(config(swarm.UpdateConfig{Parallelism: 0}), func(s *store.Service) { s.ID = "svc2" })
	var tasks []*store.Task
	for i := range 3 * budget {
		tasks = append(tasks, old(fmt.Sprintf("a%d", i), a, i+1), old(fmt.Sprintf("b%d", i), b, i+1))
	}
	n := 0
	r := updater.Decide(updater.Input{
		Snapshot: controller.Snapshot{Nodes: []*store.Node{ct.Node("n1")}, Services: []*store.Service{a, b}, Tasks: tasks},
		Now:      now,
		NewID:    func() string { n++; return fmt.Sprintf("new%d", n) },
		Since:    started,
		Budget:   budget,
	})
	if n != budget {
		t.Errorf("got %d slots started, want %d", n, budget)
	}
	if !r.Next.Equal(now) {
		t.Errorf("got next %v, want a pass at once (%v)", r.Next, now)
	}
}

// A service the cluster cannot serve is not updated, and the mark of one
// (orchestrator.IsMark) is no slot to update.
func TestDecideLeavesUnservableServicesAndMarks(t *testing.T) {
	mark := func(svc *store.Service) *store.Task {
		return old("m1", svc, 0, func(t *store.Task) {
			t.NodeID = ""
			t.Labels[orchestrator.MarkLabel] = "true"
			t.DesiredState = swarm.TaskStateShutdown
			t.Status = swarm.TaskStatus{State: swarm.TaskStateRejected, Err: orchestrator.MessageUnservable + "too many"}
		})
	}
	tests := []struct {
		name string
		svc  *store.Service
		want []string
	}{
		{
			name: "unservable: nothing moves",
			svc: service(config(swarm.UpdateConfig{Parallelism: 0}), func(s *store.Service) {
				n := uint64(1e18)
				s.Spec.Mode.Replicated.Replicas = &n
			}),
		},
		{
			name: "served again: the slots update, the mark is none of them",
			svc:  service(config(swarm.UpdateConfig{Parallelism: 0})),
			want: []string{"o1→shutdown, +new1 slot=1 ready", "o2→shutdown, +new2 slot=2 ready", "o3→shutdown, +new3 slot=3 ready"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			r := updater.Decide(updater.Input{
				Snapshot: controller.Snapshot{Nodes: []*store.Node{ct.Node("n1")}, Services: []*store.Service{tt.svc}, Tasks: append(olds(tt.svc, 1, 2, 3), mark(tt.svc))},
				Now:      now,
				NewID:    func() string { n++; return fmt.Sprintf("new%d", n) },
				Since:    started,
			})
			if diff := cmp.Diff(tt.want, summary(r)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}
