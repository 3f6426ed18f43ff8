package updater

import (
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// Docker's update defaults.
const (
	DefaultMonitor = 5 * time.Second
	// DefaultStartTimeout bounds how long a new task may take to reach
	// running (after Monitor) before it counts as failed: Swarm waits
	// forever, which leaves an update hanging on a task that cannot be
	// placed or whose image cannot be pulled.
	DefaultStartTimeout = 2 * time.Minute
)

// Config is an update or rollback config with Docker's defaults filled in.
type Config struct {
	Parallelism     int // 0: all at once
	Delay           time.Duration
	FailureAction   swarm.FailureAction
	Monitor         time.Duration
	MaxFailureRatio float32
	Order           swarm.UpdateOrder
}

// ConfigOf returns c with defaults: parallelism 1, no delay, pause on
// failure, monitor 5 s, stop-first.
func ConfigOf(c *swarm.UpdateConfig) Config {
	out := Config{Parallelism: 1, FailureAction: swarm.UpdateFailureActionPause, Monitor: DefaultMonitor, Order: swarm.UpdateOrderStopFirst}
	if c == nil {
		return out
	}
	out.Parallelism = int(min(c.Parallelism, 1<<31))
	out.Delay = max(c.Delay, 0)
	if c.FailureAction != "" {
		out.FailureAction = c.FailureAction
	}
	if c.Monitor > 0 {
		out.Monitor = c.Monitor
	}
	out.MaxFailureRatio = c.MaxFailureRatio
	if c.Order != "" {
		out.Order = c.Order
	}
	return out
}
