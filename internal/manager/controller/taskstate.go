package controller

import (
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// rank orders task states as SwarmKit does: a task only moves forward.
var rank = map[swarm.TaskState]int{
	swarm.TaskStateNew:       0,
	swarm.TaskStateAllocated: 1,
	swarm.TaskStatePending:   2,
	swarm.TaskStateAssigned:  3,
	swarm.TaskStateAccepted:  4,
	swarm.TaskStatePreparing: 5,
	swarm.TaskStateReady:     6,
	swarm.TaskStateStarting:  7,
	swarm.TaskStateRunning:   8,
	swarm.TaskStateComplete:  9,
	swarm.TaskStateShutdown:  10,
	swarm.TaskStateFailed:    11,
	swarm.TaskStateRejected:  12,
	swarm.TaskStateRemove:    13,
	swarm.TaskStateOrphaned:  14,
}

// Before reports whether state a comes before b in a task's life.
func Before(a, b swarm.TaskState) bool { return rank[a] < rank[b] }

// Terminal reports whether a task in state s has ended for good.
func Terminal(s swarm.TaskState) bool { return !Before(s, swarm.TaskStateComplete) }

// Live reports whether a task is wanted: its desired state is ready or
// running (a replacement held back, or a task meant to run).
func Live(t *store.Task) bool { return !Before(swarm.TaskStateRunning, t.DesiredState) }

// OnNode reports whether t occupies its node: it was assigned there and
// has not ended, so its container may exist.
func OnNode(t *store.Task) bool {
	return t.NodeID != "" && !Before(t.Status.State, swarm.TaskStateAssigned) && !Terminal(t.Status.State)
}

// FirstSpec reports whether ev puts a service still at the spec it was
// created with. Every task of such a service was made from that spec, so
// the event gives the updater nothing to update and the reaper no history
// to trim; creating many services then does not cost those loops a pass
// each over every task.
func FirstSpec(ev store.Event) bool {
	s, ok := ev.Object.(*store.Service)
	return ok && ev.Op == store.OpPut && s.SpecVersion <= 1 && s.PreviousSpec == nil && s.UpdateStatus == nil
}
