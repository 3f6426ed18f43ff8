// Package rebalance moves the tasks of replicated services so that they
// spread over the nodes that can run them as the scheduler would spread
// them today. Swarm never revisits a placement: a node that joins a busy
// cluster stays empty until tasks happen to restart. A rebalance is asked
// once (shoal service rebalance: the service's store.RebalanceStatus) or
// kept on with the service label com.shoal.rebalance=auto.
//
// Tasks move like a rolling update, one batch of slots at a time with the
// service's UpdateConfig parallelism, delay and order: stop-first shuts the
// task down and holds its replacement in the same slot until it stopped
// (the orchestrator then starts it); start-first starts the replacement
// beside it and shuts the old task down once the new one runs. Where a
// replacement goes is the scheduler's decision: a move is made only when
// the scheduler, asked on the current state, would place the replacement
// on a node with at least two fewer of the service's tasks, so every move
// narrows the spread and a rebalance always ends.
//
// Decide is a pure function over a snapshot; New returns the loop that
// applies it.
package rebalance

import (
	"log/slog"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// Label turns automatic rebalancing on for a service when set to Auto.
const (
	Label = "com.shoal.rebalance"
	Auto  = "auto"
)

// New returns the rebalancer's loop over st; Run it while this manager
// leads.
func New(st *store.Store, logger *slog.Logger) *controller.Loop {
	return controller.NewLoop("rebalancer", st, logger, wakes, func(s controller.Snapshot, now time.Time) ([]controller.Change, time.Time) {
		r := Decide(Input{Snapshot: s, Now: now})
		return r.Changes, r.Next
	})
}

// wakes passes events that can start or move on a rebalance: services
// (a request, a label), nodes (one joins or becomes active), and tasks
// reaching running or ending.
func wakes(ev store.Event) bool {
	t, ok := ev.Object.(*store.Task)
	if !ok {
		return true
	}
	return ev.Op != store.OpDelete && (t.Status.State == swarm.TaskStateRunning || taskstate.Terminal(t.Status.State))
}

// Wanted reports whether svc is being rebalanced: asked once and not
// completed, or automatic.
func Wanted(svc *store.Service) bool {
	if !Rebalanceable(svc) {
		return false
	}
	return svc.Spec.Labels[Label] == Auto || (svc.Rebalance != nil && svc.Rebalance.State == store.RebalanceActive)
}

// Rebalanceable reports whether svc's tasks can move: a replicated
// service. A global service runs one task per node wherever it can, and a
// job's tasks end by themselves.
func Rebalanceable(svc *store.Service) bool {
	m := svc.Spec.Mode
	return m.Global == nil && m.GlobalJob == nil && m.ReplicatedJob == nil
}
