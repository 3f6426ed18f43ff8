package controller

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/store"
)

// Pass is one reconcile: read the store, decide, apply. It returns when it
// wants to run again even if nothing changes (a delay ending), or the zero
// time.
type Pass func(ctx context.Context, now time.Time) (next time.Time, err error)

// Loop runs a Pass whenever the store changes, when the time a pass asked
// for comes, and every Resync as a safety net.
type Loop struct {
	Name   string
	Store  *store.Store
	Logger *slog.Logger
	Pass   Pass
	// Wakes, when set, says which events can give the pass work; others
	// do not wake the loop (a whole-store reset always does). It only
	// saves passes: each pass still reads the whole state, and Resync
	// catches anything it wrongly ignores.
	Wakes func(store.Event) bool
	// Resync is the longest time between passes (default 10 s).
	Resync time.Duration
	// Coalesce is how long a pass waits after the first event, so that
	// the events that follow closely are handled by the same pass
	// (default 10 ms).
	Coalesce time.Duration
	// Now is the clock (default clock.Now). Timers are the time package's,
	// so tests run loops inside testing/synctest.
	Now func() time.Time
}

const (
	defaultResync   = 10 * time.Second
	defaultCoalesce = 10 * time.Millisecond
	minBackoff      = 100 * time.Millisecond
	maxBackoff      = 10 * time.Second
)

// Run runs passes until ctx ends, then returns nil. A pass that fails or
// panics is logged and retried with exponential backoff; it never stops
// the loop.
func (l *Loop) Run(ctx context.Context) error {
	resync, coalesce, now := l.Resync, l.Coalesce, l.Now
	if resync <= 0 {
		resync = defaultResync
	}
	if coalesce <= 0 {
		coalesce = defaultCoalesce
	}
	if now == nil {
		now = clock.Now
	}
	log := l.Logger.With("controller", l.Name)
	// Subscribe before the first read, so that nothing falls between.
	sub := l.Store.Subscribe()
	defer sub.Close()

	backoff := time.Duration(0)
	// Since Go 1.23 Reset discards a pending expiry, so the timer is
	// reused without draining.
	timer := time.NewTimer(resync)
	defer timer.Stop()
	for {
		sub.Drain()
		next, err := l.safePass(ctx, now())
		if ctx.Err() != nil {
			return nil
		}
		wait := resync
		if err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			log.Error("pass failed", "err", err, "retry_in", backoff)
			wait = backoff
		} else {
			backoff = 0
			if !next.IsZero() {
				wait = min(wait, max(next.Sub(now()), 0))
			}
		}
		timer.Reset(wait)
		woken := false
		for !woken {
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
				woken = true
				continue
			case <-sub.Wake():
			}
			// Events do not cut a backoff short: a failing pass would
			// otherwise spin on its own writes' events.
			if err == nil && l.wakes(sub.Drain()) {
				timer.Reset(coalesce)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
				woken = true
			}
		}
	}
}

func (l *Loop) wakes(evs []store.Event) bool {
	for _, ev := range evs {
		if l.Wakes == nil || ev.Op == store.OpReset || l.Wakes(ev) {
			return true
		}
	}
	return false
}

// safePass runs the pass, turning a panic into an error.
func (l *Loop) safePass(ctx context.Context, now time.Time) (next time.Time, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return l.Pass(ctx, now)
}

// Decision is a controller's decision function: the changes to apply to a
// snapshot at a time, and when to decide again without an event (or zero).
type Decision func(s Snapshot, now time.Time) (changes []Change, next time.Time)

// NewLoop returns the loop that reads st, decides and applies, woken by
// the events wakes accepts (all when nil), with the loop's defaults.
func NewLoop(name string, st *store.Store, logger *slog.Logger, wakes func(store.Event) bool, decide Decision) *Loop {
	l := &Loop{Name: name, Store: st, Logger: logger, Wakes: wakes}
	var verdicts Verdicts
	l.Pass = func(ctx context.Context, now time.Time) (time.Time, error) {
		changes, next := decide(verdicts.Read(st), now)
		if len(changes) == 0 {
			return next, nil
		}
		applied, stale, err := Apply(ctx, st, changes)
		logger.Debug("pass applied", "controller", name, "applied", applied, "stale", stale)
		return next, err
	}
	return l
}
