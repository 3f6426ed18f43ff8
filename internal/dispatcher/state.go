package dispatcher

import (
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// rank orders task states as SwarmKit does: a task only ever moves to a
// higher rank. Unknown states rank below everything.
var rank = map[swarm.TaskState]int{
	swarm.TaskStateNew:       1,
	swarm.TaskStateAllocated: 2,
	swarm.TaskStatePending:   3,
	swarm.TaskStateAssigned:  4,
	swarm.TaskStateAccepted:  5,
	swarm.TaskStatePreparing: 6,
	swarm.TaskStateReady:     7,
	swarm.TaskStateStarting:  8,
	swarm.TaskStateRunning:   9,
	swarm.TaskStateComplete:  10,
	swarm.TaskStateShutdown:  11,
	swarm.TaskStateFailed:    12,
	swarm.TaskStateRejected:  13,
	swarm.TaskStateRemove:    14,
	swarm.TaskStateOrphaned:  15,
}

// Rank orders task states (and desired states) along a task's life, the
// order manager and agent agree on: a status may only move to a higher
// rank.
func Rank(s swarm.TaskState) int { return rank[s] }

// Terminal reports whether a task in state s has ended for good.
func Terminal(s swarm.TaskState) bool { return Rank(s) > Rank(swarm.TaskStateRunning) }

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
	if !reported[report.State] || Terminal(cur.State) || Rank(report.State) <= Rank(cur.State) {
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
	return Rank(s) >= Rank(swarm.TaskStateAssigned)
}
