package fakeexec

import (
	"context"
	"time"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
)

// Health states of a simulated container, as Docker names them; empty
// without a health check.
const (
	healthStarting  = "starting"
	healthHealthy   = "healthy"
	healthUnhealthy = "unhealthy"
)

var _ executor.HealthWaiter = (*controller)(nil)

// health returns the container's health at now, and when it next changes
// by itself (zero: never). Only a started container has one that moves.
func (c *container) health(now time.Time) (string, time.Time) {
	s := c.script
	switch {
	case !s.Healthcheck:
		return "", time.Time{}
	case c.unhealthy:
		return healthUnhealthy, time.Time{}
	case c.startedAt.IsZero():
		return healthStarting, time.Time{}
	}
	var badAt time.Time
	if s.UnhealthyAfter > 0 {
		badAt = c.startedAt.Add(s.UnhealthyAfter)
	}
	goodAt := c.startedAt.Add(s.HealthyAfter)
	passes := badAt.IsZero() || goodAt.Before(badAt)
	switch {
	case !badAt.IsZero() && !now.Before(badAt):
		return healthUnhealthy, time.Time{}
	case passes && !now.Before(goodAt):
		return healthHealthy, badAt
	case passes:
		return healthStarting, goodAt
	}
	return healthStarting, badAt
}

// MakeUnhealthy fails the health check of a task's container from now on,
// as a check that starts failing would.
func (e *Executor) MakeUnhealthy(taskID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[taskID]
	if !ok {
		return errdefs.NotFound("fakeexec: no container for task %s", taskID)
	}
	if !c.script.Healthcheck {
		return errdefs.Precondition("fakeexec: container of task %s has no health check", taskID)
	}
	if !c.unhealthy {
		c.unhealthy = true
		close(c.healthChanged)
		c.healthChanged = make(chan struct{})
	}
	return nil
}

// WaitHealthy implements executor.HealthWaiter.
func (c *controller) WaitHealthy(ctx context.Context) error {
	return c.watchHealth(ctx, func(state, health string) (bool, error) {
		switch {
		case health == "":
			return true, nil
		case state == stateCreated:
			return true, errdefs.Precondition("fakeexec: container of task %s has not been started", c.task.ID)
		case state == stateExited:
			return true, executor.ErrExited
		case health == healthHealthy:
			return true, nil
		case health == healthUnhealthy:
			return true, executor.ErrUnhealthy
		}
		return false, nil
	})
}

// WaitUnhealthy implements executor.HealthWaiter.
func (c *controller) WaitUnhealthy(ctx context.Context) error {
	return c.watchHealth(ctx, func(state, health string) (bool, error) {
		return state == stateRunning && health == healthUnhealthy, nil
	})
}

// watchHealth calls done with the container's state and health each time
// either may have changed, until done says it is done (with its error)
// or ctx ends.
func (c *controller) watchHealth(ctx context.Context, done func(state, health string) (bool, error)) error {
	for {
		c.e.mu.Lock()
		ctr, err := c.lookup()
		if err != nil {
			c.e.mu.Unlock()
			return err
		}
		now := c.e.cfg.Clock.Now()
		state := ctr.state(now)
		health, next := ctr.health(now)
		if ok, err := done(state, health); ok {
			c.e.mu.Unlock()
			return err
		}
		var exited <-chan struct{}
		if state == stateRunning {
			exited = ctr.done
			if ctr.script.ExitAfter > 0 && (next.IsZero() || ctr.exitAt().Before(next)) {
				next = ctr.exitAt()
			}
		} else {
			next = time.Time{}
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = c.e.cfg.Clock.After(next.Sub(now))
		}
		changed := ctr.healthChanged
		c.e.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
		case <-changed:
		case <-timer:
		}
	}
}
