package controller_test

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

func TestApplySkipsStaleChanges(t *testing.T) {
	svc := ct.Service("svc", "web", 2)
	tests := []struct {
		name string
		// change is decided from the snapshot taken after setup; meddle
		// then changes the store before Apply.
		change      func(s controller.Snapshot) controller.Change
		meddle      func(t *testing.T, st *store.Store, s controller.Snapshot)
		wantApplied int
		wantDesired swarm.TaskState // of task t1 afterwards
	}{
		{
			name: "unchanged task is written",
			change: func(s controller.Snapshot) controller.Change {
				return controller.Change{Tasks: []*store.Task{desired(s.Tasks[0], swarm.TaskStateShutdown)}}
			},
			wantApplied: 1,
			wantDesired: swarm.TaskStateShutdown,
		},
		{
			name: "task changed since the snapshot is skipped",
			change: func(s controller.Snapshot) controller.Change {
				return controller.Change{Tasks: []*store.Task{desired(s.Tasks[0], swarm.TaskStateShutdown)}}
			},
			meddle: func(t *testing.T, st *store.Store, s controller.Snapshot) {
				c := *s.Tasks[0]
				c.Status.Message = "moved on"
				ct.Put(t, st, &c)
			},
			wantApplied: 0,
			wantDesired: swarm.TaskStateRunning,
		},
		{
			name: "new task whose ID now exists is skipped",
			change: func(s controller.Snapshot) controller.Change {
				return controller.Change{Tasks: []*store.Task{ct.Task("t9", svc, 1, "")}}
			},
			meddle: func(t *testing.T, st *store.Store, _ controller.Snapshot) {
				ct.Put(t, st, ct.Task("t9", svc, 2, ""))
			},
			wantApplied: 0,
			wantDesired: swarm.TaskStateRunning,
		},
		{
			name: "slot that gained a task is skipped",
			change: func(s controller.Snapshot) controller.Change {
				return controller.Change{
					Tasks: []*store.Task{desired(s.Tasks[0], swarm.TaskStateShutdown)},
					Slots: []controller.SlotGuard{controller.Guard("svc", 1, "", s.Tasks[:1])},
				}
			},
			meddle: func(t *testing.T, st *store.Store, _ controller.Snapshot) {
				ct.Put(t, st, ct.Task("t3", svc, 1, ""))
			},
			wantApplied: 0,
			wantDesired: swarm.TaskStateRunning,
		},
		{
			name: "another slot gaining a task does not matter",
			change: func(s controller.Snapshot) controller.Change {
				return controller.Change{
					Tasks: []*store.Task{desired(s.Tasks[0], swarm.TaskStateShutdown)},
					Slots: []controller.SlotGuard{controller.Guard("svc", 1, "", s.Tasks[:1])},
				}
			},
			meddle: func(t *testing.T, st *store.Store, _ controller.Snapshot) {
				ct.Put(t, st, ct.Task("t3", svc, 3, ""))
			},
			wantApplied: 1,
			wantDesired: swarm.TaskStateShutdown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := ct.NewStore(t)
			ct.Put(t, st, svc, ct.Task("t1", svc, 1, "n1"), ct.Task("t2", svc, 2, "n1"))
			snap := controller.Read(st)
			c := tt.change(snap)
			if tt.meddle != nil {
				tt.meddle(t, st, snap)
			}
			applied, stale, err := controller.Apply(t.Context(), st, []controller.Change{c})
			if err != nil {
				t.Fatal(err)
			}
			if applied != tt.wantApplied || applied+stale != 1 {
				t.Errorf("got applied %d stale %d, want applied %d of 1", applied, stale, tt.wantApplied)
			}
			var got swarm.TaskState
			st.View(func(tx store.ReadTx) { got = store.Get[*store.Task](tx, "t1").DesiredState })
			if got != tt.wantDesired {
				t.Errorf("got t1 desired %q, want %q", got, tt.wantDesired)
			}
		})
	}
}

func TestApplyGuardsGlobalSlotsByNode(t *testing.T) {
	g := ct.Service("g", "agent", 0, ct.Global)
	tests := []struct {
		name  string
		added *store.Task // after the snapshot
		want  int         // changes applied
	}{
		// A task numbered as if replicated still belongs to its node's
		// slot.
		{"task added on another node", ct.Task("c", g, 3, "n2"), 1},
		{"task added on the same node", ct.Task("c", g, 3, "n1"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := ct.NewStore(t)
			ct.Put(t, st, g, ct.Task("a", g, 0, "n1"), ct.Task("b", g, 0, "n2"))
			snap := controller.Read(st)
			ct.Put(t, st, tt.added)
			applied, _, err := controller.Apply(t.Context(), st, []controller.Change{{
				Tasks: []*store.Task{ct.Task("new", g, 0, "n1")},
				Slots: []controller.SlotGuard{controller.Guard("g", 0, "n1", snap.Tasks[:1])},
			}})
			if err != nil || applied != tt.want {
				t.Errorf("got applied %d, err %v; want %d", applied, err, tt.want)
			}
		})
	}
}

func TestApplySplitsLargeBatches(t *testing.T) {
	st := ct.NewStore(t)
	svc := ct.Service("svc", "web", 1)
	ct.Put(t, st, svc)
	before := st.Index()
	var changes []controller.Change
	for i := range controller.MaxBatch + 10 {
		changes = append(changes, controller.Change{Tasks: []*store.Task{ct.Task(taskID(i), svc, i+1, "")}})
	}
	applied, stale, err := controller.Apply(t.Context(), st, changes)
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(changes) || stale != 0 {
		t.Errorf("got applied %d stale %d, want %d and 0", applied, stale, len(changes))
	}
	if got := st.Index() - before; got != 2 {
		t.Errorf("got %d store updates, want 2", got)
	}
}

// Tasks of a large spec split by bytes: 40 tasks of 1 MiB each would be
// one 40 MiB raft entry by count alone.
func TestApplySplitsLargeObjects(t *testing.T) {
	st := ct.NewStore(t)
	svc := ct.Service("svc", "web", 1, func(s *store.Service) {
		s.Spec.TaskTemplate.ContainerSpec.Env = []string{"BIG=" + strings.Repeat("x", 1<<20)}
	})
	ct.Put(t, st, svc)
	before := st.Index()
	var changes []controller.Change
	for i := range 40 {
		task := ct.Task(taskID(i), svc, i+1, "")
		task.Spec = svc.Spec.TaskTemplate
		changes = append(changes, controller.Change{Tasks: []*store.Task{task}})
	}
	if applied, _, err := controller.Apply(t.Context(), st, changes); err != nil || applied != len(changes) {
		t.Fatalf("got applied %d, err %v; want %d", applied, err, len(changes))
	}
	// An update ends with the task that crosses the bound: the eighth
	// of a little over 1 MiB each.
	const perUpdate = controller.MaxBatchBytes >> 20
	if got, want := st.Index()-before, uint64(len(changes)/perUpdate); got != want {
		t.Errorf("got %d store updates, want %d of %d tasks", got, want, perUpdate)
	}
}

func desired(t *store.Task, s swarm.TaskState) *store.Task {
	c := *t
	c.DesiredState = s
	return &c
}

func taskID(i int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := []byte("task-0000")
	for j := len(b) - 1; i > 0; j-- {
		b[j] = digits[i%36]
		i /= 36
	}
	return string(b)
}
