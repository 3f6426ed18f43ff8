package dispatcher

import (
	"context"
	"log/slog"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/store"
)

// maxCommitUpdates bounds the task updates written in one store update, so
// that one raft entry stays a few megabytes at most.
const maxCommitUpdates = 1000

// statusRequest is an UpdateTaskStatus call waiting for the committer.
type statusRequest struct {
	nodeID  string
	updates []TaskStatusUpdate
	done    chan error // capacity 1
}

// UpdateTaskStatus records the statuses a node reports for its tasks. The
// updates of a call are committed together (with those of other calls that
// wait at the same time); an update for a task that is not the node's, or
// is gone, or that would move a status backwards, is dropped.
func (d *Dispatcher) UpdateTaskStatus(ctx context.Context, req *UpdateTaskStatusRequest) (*UpdateTaskStatusResponse, error) {
	id, tm, err := d.caller(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := d.currentSession(id.NodeID, req.SessionID); err != nil {
		return nil, toStatus(err)
	}
	if len(req.Updates) == 0 {
		return &UpdateTaskStatusResponse{}, nil
	}
	r := &statusRequest{nodeID: id.NodeID, updates: req.Updates, done: make(chan error, 1)}
	select {
	case d.statusQueue <- r:
	case <-tm.done:
		return nil, toStatus(&notLeaderError{leader: d.leaderAddr()})
	case <-ctx.Done():
		return nil, toStatus(ctx.Err())
	}
	select {
	case err := <-r.done:
		if err != nil {
			return nil, toStatus(err)
		}
		return &UpdateTaskStatusResponse{}, nil
	case <-ctx.Done():
		return nil, toStatus(ctx.Err())
	}
}

// commitStatuses writes queued status requests, all those waiting at once
// in one store update: while one update is in raft, the next batch gathers.
func (d *Dispatcher) commitStatuses(ctx context.Context) {
	for {
		var batch []*statusRequest
		select {
		case <-ctx.Done():
			return
		case r := <-d.statusQueue:
			batch = append(batch, r)
		}
		n := len(batch[0].updates)
	gather:
		for n < maxCommitUpdates {
			select {
			case r := <-d.statusQueue:
				batch = append(batch, r)
				n += len(r.updates)
			default:
				break gather
			}
		}
		var running []time.Duration
		err := d.store.Update(ctx, func(tx *store.WriteTx) error {
			var err error
			running, err = applyStatuses(tx, batch, d.clock.Now(), d.log)
			return err
		})
		if err == nil {
			for _, delay := range running {
				metrics.SchedulingDelay.Observe(delay.Seconds())
			}
		}
		d.log.Debug("task statuses committed", "updates", n, "err", err)
		if err != nil {
			err = d.storeError(err)
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

// applyStatuses writes the reports of batch that move their tasks forward,
// and returns, for each task it moves to running, the time since the task
// was created (SwarmKit's scheduling delay, measured on the leader).
func applyStatuses(tx *store.WriteTx, batch []*statusRequest, now time.Time, log *slog.Logger) ([]time.Duration, error) {
	var running []time.Duration
	for _, r := range batch {
		for _, u := range r.updates {
			t := store.Get[*store.Task](tx.ReadTx, u.TaskID)
			if t == nil {
				continue // deleted meanwhile: nothing to record
			}
			if t.NodeID != r.nodeID {
				log.Warn("node reported the status of a task that is not its own: dropped", "node.id", r.nodeID, "task.id", u.TaskID, "task.node", t.NodeID)
				continue
			}
			st, ok := nextStatus(t.Status, u.Status, now)
			if !ok {
				continue
			}
			c := *t
			c.Status = st
			if err := tx.Put(&c); err != nil {
				return nil, err
			}
			if st.State == swarm.TaskStateRunning && t.Status.State != swarm.TaskStateRunning {
				running = append(running, now.Sub(t.CreatedAt))
			}
		}
	}
	return running, nil
}
