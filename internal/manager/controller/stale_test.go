package controller_test

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

// TestApplySkipsStaleDeletesAndServices covers what a change carries
// besides tasks to put: tasks to delete and services to replace, and a
// task that was deleted after the snapshot. A stale one must change
// nothing: a task changed since it was decided to be deleted stays, a
// deleted task is not brought back, a service changed meanwhile is not
// overwritten.
func TestApplySkipsStaleDeletesAndServices(t *testing.T) {
	svc := ct.Service("svc", "web", 2)
	relabelled := func(s *store.Service, v string) *store.Service {
		c := store.Clone(s)
		c.Spec.Labels = map[string]string{"by": v}
		return c
	}
	changed := func(t *store.Task) *store.Task {
		c := *t
		c.Status.Message = "moved on"
		return &c
	}
	tests := []struct {
		name        string
		change      func(s controller.Snapshot) controller.Change
		meddle      func(t *testing.T, st *store.Store, s controller.Snapshot)
		wantApplied int
		// want checks the store afterwards: "" when it is as expected.
		want func(tx store.ReadTx) string
	}{
		{
			name:        "unchanged task is deleted",
			change:      func(s controller.Snapshot) controller.Change { return controller.Change{Deletes: s.Tasks[:1]} },
			wantApplied: 1,
			want:        taskGone("t1"),
		},
		{
			name:   "task changed since the snapshot is not deleted",
			change: func(s controller.Snapshot) controller.Change { return controller.Change{Deletes: s.Tasks[:1]} },
			meddle: func(t *testing.T, st *store.Store, s controller.Snapshot) {
				ct.Put(t, st, changed(s.Tasks[0]))
			},
			want: taskMessage("t1", "moved on"),
		},
		{
			name: "task deleted since the snapshot is not written back",
			change: func(s controller.Snapshot) controller.Change {
				return controller.Change{Tasks: []*store.Task{desired(s.Tasks[0], swarm.TaskStateShutdown)}}
			},
			meddle: func(t *testing.T, st *store.Store, s controller.Snapshot) {
				deleteTask(t, st, s.Tasks[0])
			},
			want: taskGone("t1"),
		},
		{
			name:        "unchanged service is written",
			change:      func(s controller.Snapshot) controller.Change { return serviceChange(s, relabelled, "controller") },
			wantApplied: 1,
			want:        serviceLabel("svc", "controller"),
		},
		{
			name:   "service changed since the snapshot is not overwritten",
			change: func(s controller.Snapshot) controller.Change { return serviceChange(s, relabelled, "controller") },
			meddle: func(t *testing.T, st *store.Store, s controller.Snapshot) {
				ct.Put(t, st, relabelled(s.Services[0], "user"))
			},
			want: serviceLabel("svc", "user"),
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
			var why string
			st.View(func(tx store.ReadTx) { why = tt.want(tx) })
			if why != "" {
				t.Error(why)
			}
		})
	}
}

func serviceChange(s controller.Snapshot, relabel func(*store.Service, string) *store.Service, by string) controller.Change {
	return controller.Change{Services: []*store.Service{relabel(s.Services[0], by)}}
}

func deleteTask(t *testing.T, st *store.Store, task *store.Task) {
	t.Helper()
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error { return tx.Delete(task) }); err != nil {
		t.Fatal(err)
	}
}

func taskGone(id string) func(store.ReadTx) string {
	return func(tx store.ReadTx) string {
		if got := store.Get[*store.Task](tx, id); got != nil {
			return "task " + id + " exists, want it gone"
		}
		return ""
	}
}

func taskMessage(id, msg string) func(store.ReadTx) string {
	return func(tx store.ReadTx) string {
		got := store.Get[*store.Task](tx, id)
		if got == nil {
			return "task " + id + " is gone, want it kept"
		}
		if got.Status.Message != msg {
			return "task " + id + " has message " + got.Status.Message + ", want " + msg
		}
		return ""
	}
}

func serviceLabel(id, by string) func(store.ReadTx) string {
	return func(tx store.ReadTx) string {
		got := store.Get[*store.Service](tx, id)
		if got == nil || got.Spec.Labels["by"] != by {
			return "service " + id + " is not the one labelled by " + by
		}
		return ""
	}
}
