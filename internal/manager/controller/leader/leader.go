// Package leader runs the controllers that only the raft leader runs:
// orchestrator, allocator, scheduler, updater, reaper, rebalancer and the root CA
// rotation's finisher. Start them when this manager becomes leader and
// cancel their context when it stops being leader; everything they need is
// in the store, so a new leader picks up where the old one left.
package leader

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/manager/allocator"
	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/manager/reaper"
	"github.com/shoal-project/shoal/internal/manager/rebalance"
	"github.com/shoal-project/shoal/internal/manager/rootrotation"
	"github.com/shoal-project/shoal/internal/manager/scheduler"
	"github.com/shoal-project/shoal/internal/manager/updater"
	"github.com/shoal-project/shoal/internal/store"
)

// Config tunes the controllers; the zero value is Docker's behaviour.
type Config struct {
	// StartTimeout is how long after Monitor a task made by an update may
	// take to reach running before it counts as failed
	// (updater.DefaultStartTimeout when zero).
	StartTimeout time.Duration
}

// Controllers is the set of leader-only controllers.
type Controllers struct {
	loops []*controller.Loop
}

// New returns the controllers over st.
func New(st *store.Store, logger *slog.Logger, cfg Config) *Controllers {
	return &Controllers{loops: []*controller.Loop{
		orchestrator.New(st, logger),
		allocator.New(st, logger),
		scheduler.New(st, logger),
		updater.New(st, logger, cfg.StartTimeout),
		reaper.New(st, logger),
		rebalance.New(st, logger),
		rootrotation.New(st, logger),
	}}
}

// Run runs every controller until ctx ends, and returns once all have
// stopped.
func (c *Controllers) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.loops))
	for i, l := range c.loops {
		wg.Go(func() { errs[i] = l.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
