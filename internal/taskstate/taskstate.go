// Package taskstate orders task states along a task's life, as SwarmKit
// does: a task's status only moves forward, and managers and agents agree
// on the order.
package taskstate

import "github.com/moby/moby/api/types/swarm"

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

// Rank is a state's place in a task's life (also for desired states);
// unknown states rank below everything.
func Rank(s swarm.TaskState) int { return rank[s] }

// Before reports whether state a comes before b in a task's life.
func Before(a, b swarm.TaskState) bool { return rank[a] < rank[b] }

// Terminal reports whether a task in state s has ended for good.
func Terminal(s swarm.TaskState) bool { return Before(swarm.TaskStateRunning, s) }
