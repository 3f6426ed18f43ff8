package updater

import (
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// verdict is what the monitor makes of one task of the update.
type verdict int

const (
	starting verdict = iota // not running yet, still within its time
	running                 // running, still within Monitor
	healthy                 // ran through Monitor
	failed                  // ended early, or never started in time
)

// monitor judges the tasks an update created. It is the one place that
// says whether a new task is good, so that health-gated monitoring can
// replace it.
type monitor struct {
	now          time.Time
	cfg          Config
	startTimeout time.Duration
	// seen maps tasks to when they started running, as this updater saw
	// them; since is when it started watching.
	seen  map[string]time.Time
	since time.Time
	next  *time.Time // earliest time a verdict changes
}

// judge returns the verdict on t, an up-to-date task of the update.
func (m *monitor) judge(t *store.Task) verdict {
	switch st := t.Status.State; {
	case st == swarm.TaskStateRunning:
		healthyAt := t.Status.Timestamp.Add(m.cfg.Monitor)
		if m.now.Before(healthyAt) {
			m.wake(healthyAt)
			return running
		}
		return healthy
	case endedEarly(t):
		// Ended by itself: a failure if it had not run through Monitor,
		// or ended without being seen running since this updater
		// watches (a new leader does not blame what went before).
		end := t.Status.Timestamp
		if start, ok := m.seen[t.ID]; ok {
			if end.Sub(start) < m.cfg.Monitor {
				return failed
			}
			return healthy
		}
		if !end.Before(m.since) {
			return failed
		}
		return healthy
	case taskstate.Terminal(st):
		// Shut down at our request: it proved nothing either way.
		return healthy
	}
	deadline := t.CreatedAt.Add(m.cfg.Monitor + m.startTimeout)
	if !m.now.Before(deadline) {
		return failed
	}
	m.wake(deadline)
	return starting
}

// endedEarly reports whether a task stopped by itself rather than at our
// request: it failed, was rejected, or exited while meant to run.
func endedEarly(t *store.Task) bool {
	switch t.Status.State {
	case swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateComplete, swarm.TaskStateOrphaned:
		return true
	case swarm.TaskStateShutdown:
		return t.DesiredState == swarm.TaskStateRunning
	}
	return false
}

func (m *monitor) wake(at time.Time) {
	if m.next.IsZero() || at.Before(*m.next) {
		*m.next = at
	}
}
