package updater

import (
	"context"
	"log/slog"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// New returns the updater's loop over st; Run it while this manager
// leads. startTimeout is DefaultStartTimeout when zero.
//
// The loop remembers when it saw each task running, which Decide needs to
// tell a task that failed within Monitor from one that ran long enough;
// a new leader's updater starts with an empty memory.
func New(st *store.Store, logger *slog.Logger, startTimeout time.Duration) *controller.Loop {
	var (
		seen     = map[string]time.Time{}
		since    time.Time
		verdicts controller.Verdicts
	)
	l := &controller.Loop{Name: "updater", Store: st, Logger: logger, Wakes: wakes}
	l.Pass = func(ctx context.Context, now time.Time) (time.Time, error) {
		if since.IsZero() {
			since = now
		}
		snap := verdicts.Read(st)
		remember(seen, snap.Tasks)
		r := Decide(Input{Snapshot: snap, Now: now, Seen: seen, Since: since, StartTimeout: startTimeout})
		if len(r.Changes) == 0 {
			return r.Next, nil
		}
		applied, stale, err := controller.Apply(ctx, st, r.Changes)
		logger.Debug("pass applied", "controller", "updater", "applied", applied, "stale", stale)
		return r.Next, err
	}
	return l
}

// remember records when running tasks started and forgets tasks that are
// gone.
func remember(seen map[string]time.Time, tasks []*store.Task) {
	present := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		present[t.ID] = true
		if _, ok := seen[t.ID]; !ok && t.Status.State == swarm.TaskStateRunning {
			seen[t.ID] = t.Status.Timestamp
		}
	}
	for id := range seen {
		if !present[id] {
			delete(seen, id)
		}
	}
}

// wakes passes events that move an update on: a task reaching running or
// ending, and any change to services (but a service still at its first
// spec), nodes or the cluster.
func wakes(ev store.Event) bool {
	t, ok := ev.Object.(*store.Task)
	if !ok {
		return !controller.FirstSpec(ev)
	}
	return ev.Op != store.OpDelete && (t.Status.State == swarm.TaskStateRunning || taskstate.Terminal(t.Status.State))
}
