package orchestrator

import (
	"log/slog"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// New returns the orchestrator's loop over st; Run it while this manager
// leads.
func New(st *store.Store, logger *slog.Logger) *controller.Loop {
	return controller.NewLoop("orchestrator", st, logger, wakes, func(s controller.Snapshot, now time.Time) ([]controller.Change, time.Time) {
		r := Decide(Input{Snapshot: s, Now: now})
		return r.Changes, r.Next
	})
}

// wakes passes every event but a task moving on its way to running, which
// gives the orchestrator nothing to do: it acts on tasks that ended or are
// no longer meant to run, and on services, nodes and the cluster.
func wakes(ev store.Event) bool {
	t, ok := ev.Object.(*store.Task)
	if !ok || ev.Op == store.OpDelete {
		return true
	}
	return taskstate.Terminal(t.Status.State) || t.DesiredState != swarm.TaskStateRunning
}
