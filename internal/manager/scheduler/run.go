package scheduler

import (
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// New returns the scheduler's loop over st; Run it while this manager
// leads. It wakes on every change, so a pending task is placed as soon as
// a node can take it (a node joins, its labels change, resources free).
func New(st *store.Store, logger *slog.Logger) *controller.Loop {
	return controller.NewLoop("scheduler", st, logger, wakes, func(s controller.Snapshot, now time.Time) ([]controller.Change, time.Time) {
		return Decide(Input{Snapshot: s, Now: now}).Changes(), time.Time{}
	})
}

// wakes passes events that can make a pending task placeable or give the
// scheduler a task to place; its own assignments do not wake it.
func wakes(ev store.Event) bool {
	switch o := ev.Object.(type) {
	case *store.Task:
		if ev.Op == store.OpDelete {
			return o.NodeID != ""
		}
		return Schedulable(o) || (o.NodeID != "" && (taskstate.Terminal(o.Status.State) || !controller.Live(o)))
	case *store.Cluster:
		return false
	}
	return true
}
