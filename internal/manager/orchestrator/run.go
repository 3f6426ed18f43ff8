package orchestrator

import (
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
)

// New returns the orchestrator's loop over st; Run it while this manager
// leads.
func New(st *store.Store, logger *slog.Logger) *controller.Loop {
	return controller.NewLoop("orchestrator", st, logger, func(s controller.Snapshot, now time.Time) ([]controller.Change, time.Time) {
		r := Decide(Input{Snapshot: s, Now: now})
		return r.Changes, r.Next
	})
}
