// Package reaper deletes the tasks nobody needs anymore: tasks being
// removed, once they have stopped, and the oldest ended tasks of a slot
// beyond the cluster's task history limit.
//
// Decide is a pure function over a store snapshot; New returns the loop
// that applies it.
package reaper

import (
	"cmp"
	"log/slog"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/manager/restart"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// Decide returns the deletions due in a snapshot, one change per task.
//
// A task with DesiredState remove goes once it is stopped: it ended, never
// reached a node, or its node was removed. (A node that is only down may
// come back and must first be told to stop it.) Every slot — per node for
// global services — keeps at most TaskHistoryRetentionLimit tasks, and at
// least as many as its restart policy needs to count attempts; the oldest
// ended ones go first, tasks meant to run never, and the newest task of a
// slot never, so a slot the restart policy gave up on, or a job slot that
// completed, is not taken for empty.
func Decide(s controller.Snapshot) []controller.Change {
	nodes := map[string]bool{}
	for _, n := range s.Nodes {
		nodes[n.ID] = true
	}
	stopped := func(t *store.Task) bool {
		return taskstate.Terminal(t.Status.State) || taskstate.Before(t.Status.State, swarm.TaskStateAssigned) ||
			(t.NodeID != "" && !nodes[t.NodeID])
	}
	var out []controller.Change
	del := func(t *store.Task) { out = append(out, controller.Change{Deletes: []*store.Task{t}}) }

	byService := map[string][]*store.Task{}
	for _, t := range s.Tasks {
		if t.DesiredState == swarm.TaskStateRemove {
			if stopped(t) {
				del(t)
			}
			continue
		}
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	limit := s.TaskHistory()
	if limit < 0 {
		return out
	}
	for _, svc := range s.Services {
		keep := max(int(min(limit, 1<<20)), restart.PolicyOf(svc.Spec.TaskTemplate).History(), 1)
		for _, slot := range orchestrator.Slots(svc, byService[svc.ID]) {
			excess := len(slot.Tasks) - keep
			if excess <= 0 {
				continue
			}
			tasks := slices.Clone(slot.Tasks)
			slices.SortFunc(tasks, func(a, b *store.Task) int {
				return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
			})
			for _, t := range tasks[:len(tasks)-1] {
				if excess == 0 {
					break
				}
				if !controller.Live(t) && stopped(t) {
					del(t)
					excess--
				}
			}
		}
	}
	return out
}

// New returns the reaper's loop over st; Run it while this manager leads.
func New(st *store.Store, logger *slog.Logger) *controller.Loop {
	return controller.NewLoop("reaper", st, logger, wakes, func(s controller.Snapshot, _ time.Time) ([]controller.Change, time.Time) {
		return Decide(s), time.Time{}
	})
}

// wakes passes events that can make a task deletable: a task that ended,
// is no longer meant to run or is being removed (a replacement is always
// made with such a change to the task it replaces), and any change to
// services (but a service still at its first spec), nodes or the cluster.
func wakes(ev store.Event) bool {
	t, ok := ev.Object.(*store.Task)
	if !ok {
		return !controller.FirstSpec(ev)
	}
	return ev.Op != store.OpDelete && (taskstate.Terminal(t.Status.State) || !controller.Live(t))
}
