package agent

import (
	"context"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
)

// Batching of status reports: a report waits up to flushDelay for others
// to join it, and a batch goes at once when it reaches maxBatch tasks.
const (
	flushDelay = 100 * time.Millisecond
	maxBatch   = 128
)

// reporter holds the statuses not yet acknowledged by a manager. It
// outlives sessions: what a lost session did not deliver, the next one
// sends. Only a task's latest status is kept, since the manager only
// moves a task forward anyway.
type reporter struct {
	mu      sync.Mutex
	pending map[string]swarm.TaskStatus // by task ID; guarded by mu
	order   []string                    // task IDs of pending, oldest first; guarded by mu

	added chan struct{} // capacity 1: a status was added
	full  chan struct{} // capacity 1: pending reached maxBatch
}

func newReporter() *reporter {
	return &reporter{pending: map[string]swarm.TaskStatus{}, added: make(chan struct{}, 1), full: make(chan struct{}, 1)}
}

// report queues a task's status, replacing an older one not yet sent.
func (r *reporter) report(taskID string, st swarm.TaskStatus) {
	r.mu.Lock()
	if _, ok := r.pending[taskID]; !ok {
		r.order = append(r.order, taskID)
	}
	r.pending[taskID] = st
	n := len(r.pending)
	r.mu.Unlock()
	signal(r.added)
	if n >= maxBatch {
		signal(r.full)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (r *reporter) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// batch returns up to maxBatch pending statuses, oldest first, leaving
// them pending until ack.
func (r *reporter) batch() []dispatcher.TaskStatusUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(r.order), maxBatch)
	out := make([]dispatcher.TaskStatusUpdate, 0, n)
	for _, id := range r.order[:n] {
		out = append(out, dispatcher.TaskStatusUpdate{TaskID: id, Status: r.pending[id]})
	}
	return out
}

// ack drops the statuses a manager accepted, except those replaced by a
// newer status meanwhile.
func (r *reporter) ack(sent []dispatcher.TaskStatusUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range sent {
		if cur, ok := r.pending[u.TaskID]; ok && cur.State == u.Status.State && cur.Timestamp.Equal(u.Status.Timestamp) {
			delete(r.pending, u.TaskID)
		}
	}
	kept := r.order[:0]
	for _, id := range r.order {
		if _, ok := r.pending[id]; ok {
			kept = append(kept, id)
		}
	}
	clear(r.order[len(kept):])
	r.order = kept
}

// flush sends pending statuses through a session until ctx ends or a call
// fails; what was not acknowledged stays pending.
func (r *reporter) flush(ctx context.Context, c *dispatcher.Client, sessionID string, clock Clock) error {
	for {
		if r.len() == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.added:
			}
			continue
		}
		if r.len() < maxBatch {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-clock.After(flushDelay):
			case <-r.full:
			}
		}
		b := r.batch()
		if err := c.UpdateTaskStatus(ctx, &dispatcher.UpdateTaskStatusRequest{SessionID: sessionID, Updates: b}); err != nil {
			return err
		}
		r.ack(b)
	}
}
