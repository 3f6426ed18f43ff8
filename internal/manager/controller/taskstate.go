package controller

import (
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// Live reports whether a task is wanted: its desired state is ready or
// running (a replacement held back, or a task meant to run).
func Live(t *store.Task) bool { return !taskstate.Before(swarm.TaskStateRunning, t.DesiredState) }

// OnNode reports whether t occupies its node: it was assigned there and
// has not ended, so its container may exist.
func OnNode(t *store.Task) bool {
	return t.NodeID != "" && !taskstate.Before(t.Status.State, swarm.TaskStateAssigned) && !taskstate.Terminal(t.Status.State)
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
