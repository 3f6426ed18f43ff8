// Package restart is Docker's restart policy as pure functions: whether a
// task that ended gets a replacement, and after what delay. Restarts are
// counted from the slot's task history in the store, so the count
// survives a change of leader.
package restart

import (
	"cmp"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// DefaultDelay is Docker's delay between restarts.
const DefaultDelay = 5 * time.Second

// Policy is a restart policy with Docker's defaults filled in.
type Policy struct {
	Condition   swarm.RestartPolicyCondition // any, on-failure or none
	Delay       time.Duration
	MaxAttempts uint64        // 0: unlimited
	Window      time.Duration // 0: attempts are counted over all time
}

// PolicyOf returns the policy of a task spec: condition any, delay 5 s,
// unlimited attempts and no window where the spec is silent.
func PolicyOf(spec swarm.TaskSpec) Policy {
	p := Policy{Condition: swarm.RestartPolicyConditionAny, Delay: DefaultDelay}
	r := spec.RestartPolicy
	if r == nil {
		return p
	}
	if r.Condition != "" {
		p.Condition = r.Condition
	}
	if r.Delay != nil {
		p.Delay = max(*r.Delay, 0)
	}
	if r.MaxAttempts != nil {
		p.MaxAttempts = *r.MaxAttempts
	}
	if r.Window != nil {
		p.Window = max(*r.Window, 0)
	}
	return p
}

// Cause is why the task a replacement takes the place of stopped; it
// decides whether the replacement waits out the restart delay.
type Cause int

const (
	// Ended: the task ended by itself — it failed, completed or was
	// rejected. Replacing it is a restart, and the task may be in a crash
	// loop: the delay is there to slow one down.
	Ended Cause = iota
	// Stopped: the cluster stopped it (an update, a drain, a rebalance)
	// and it reported so.
	Stopped
	// NodeLost: its node went down or was removed while the task was
	// meant to run and had not ended. The task did not fail, its node
	// did: running it again elsewhere is no step of a crash loop.
	NodeLost
)

// DelayAfter is how long a replacement waits from its creation before it
// starts, given why the task it replaces stopped: the policy's delay after
// a task that ended by itself, none otherwise. Docker (SwarmKit) waits
// the delay also for a task lost with its node; Shoal does not, so that a
// lost node's tasks run elsewhere as soon as the node is known to be down
// (docs/BENCHMARKS.md, node failure). Crash loops are still slowed: a
// replacement that then fails on its new node ended by itself, and its
// own replacement waits; and every replacement, whatever the cause,
// counts towards MaxAttempts.
func (p Policy) DelayAfter(c Cause) time.Duration {
	if c == Ended {
		return p.Delay
	}
	return 0
}

// Allows reports whether ended, a task that stopped running by itself
// (it completed, failed, was rejected, or was lost with its node), gets a
// replacement in its slot. slot holds every task of that slot, ended
// included. Tasks of a job that completed never get one: completing is
// what a job task is for.
//
// Attempts are the replacements already made in the slot for the same
// spec, created within Window before now: a spec change starts the count
// again, as in SwarmKit.
func (p Policy) Allows(ended *store.Task, slot []*store.Task, job bool, now time.Time) bool {
	completed := ended.Status.State == swarm.TaskStateComplete
	switch p.Condition {
	case swarm.RestartPolicyConditionNone:
		return false
	case swarm.RestartPolicyConditionOnFailure:
		if completed {
			return false
		}
	default:
		if completed && job {
			return false
		}
	}
	if p.MaxAttempts == 0 {
		return true
	}
	return uint64(p.attempts(ended, slot, now)) < p.MaxAttempts
}

// attempts counts the restarts made in the slot for ended's spec: every
// task of that spec but the first, within the window.
func (p Policy) attempts(ended *store.Task, slot []*store.Task, now time.Time) int {
	var same []*store.Task
	for _, t := range slot {
		if t.SpecVersion == ended.SpecVersion && t.DesiredState != swarm.TaskStateRemove {
			same = append(same, t)
		}
	}
	if len(same) < 2 {
		return 0
	}
	slices.SortFunc(same, func(a, b *store.Task) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	n := 0
	for _, t := range same[1:] {
		if p.Window == 0 || t.CreatedAt.After(now.Add(-p.Window)) {
			n++
		}
	}
	return n
}

// History is how many tasks of a slot must be kept for attempts to be
// counted right: the reaper keeps at least this many.
func (p Policy) History() int {
	if p.MaxAttempts == 0 {
		return 0
	}
	return int(min(p.MaxAttempts, 1<<20)) + 1
}
