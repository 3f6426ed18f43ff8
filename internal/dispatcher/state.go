package dispatcher

import (
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// reported is the states an agent may report; the others are the
// manager's to set.
var reported = map[swarm.TaskState]bool{
	swarm.TaskStateAccepted:  true,
	swarm.TaskStatePreparing: true,
	swarm.TaskStateReady:     true,
	swarm.TaskStateStarting:  true,
	swarm.TaskStateRunning:   true,
	swarm.TaskStateComplete:  true,
	swarm.TaskStateShutdown:  true,
	swarm.TaskStateFailed:    true,
	swarm.TaskStateRejected:  true,
}

// nextStatus decides whether an agent's report replaces a task's status.
// Only a move forward from a live state counts, so a stale report (one
// that arrives after a newer one, or after the task ended) changes
// nothing. A report without a timestamp gets now.
func nextStatus(cur, report swarm.TaskStatus, now time.Time) (swarm.TaskStatus, bool) {
	if !reported[report.State] || taskstate.Terminal(cur.State) || taskstate.Rank(report.State) <= taskstate.Rank(cur.State) {
		return cur, false
	}
	if report.Timestamp.IsZero() {
		report.Timestamp = now
	}
	return report, true
}

// inAssignments reports whether a task in state s is sent to its node: from
// the moment it is assigned, including after it ended, so that the node
// keeps an ended task's container (its logs, `docker ps -a`) until the
// task is deleted, as Docker does.
func inAssignments(s swarm.TaskState) bool {
	return taskstate.Rank(s) >= taskstate.Rank(swarm.TaskStateAssigned)
}
