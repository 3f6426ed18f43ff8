package clustermetrics

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/store"
)

// replayWindow is how far before the watch started a change may be and
// still count. A restarted manager applies again the raft entries since
// its last snapshot, and a new one the whole log it is sent: those are
// past changes, counted when they happened (by the manager that saw
// them), not now.
const replayWindow = 5 * time.Second

// Watch counts task state transitions and times to running from the
// changes applied to st until ctx ends.
func Watch(ctx context.Context, st *store.Store) {
	sub := st.Subscribe()
	defer sub.Close()
	w := &taskWatch{states: map[string]swarm.TaskState{}, since: time.Now().Add(-replayWindow)}
	st.View(w.fill)
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Op == store.OpReset {
				st.View(w.fill)
				continue
			}
			if t, ok := ev.Object.(*store.Task); ok {
				w.apply(ev, t)
			}
		}
	}
}

// taskWatch follows the state of every task.
type taskWatch struct {
	states map[string]swarm.TaskState
	since  time.Time // changes older than this are not counted
}

func (w *taskWatch) fill(tx store.ReadTx) {
	w.states = map[string]swarm.TaskState{}
	for _, t := range store.All[*store.Task](tx) {
		w.states[t.ID] = t.Status.State
	}
}

func (w *taskWatch) apply(ev store.Event, t *store.Task) {
	if ev.Op == store.OpDelete {
		delete(w.states, t.ID)
		return
	}
	from, known := w.states[t.ID]
	to := t.Status.State
	w.states[t.ID] = to
	if (known && from == to) || ev.Time.Before(w.since) {
		return
	}
	if !known {
		from = "none"
	}
	metrics.TaskTransitions.WithLabelValues(string(from), string(to), Reason(t)).Inc()
	if to == swarm.TaskStateRunning && !t.Status.Timestamp.IsZero() && !t.CreatedAt.IsZero() {
		metrics.TaskTimeToRunning.Observe(t.Status.Timestamp.Sub(t.CreatedAt).Seconds())
	}
}

// WatchLeader counts the leader changes this manager sees until ctx
// ends.
func WatchLeader(ctx context.Context, r *raft.Raft) {
	obs := make(chan raft.Observation, 16)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(o)
	defer r.DeregisterObserver(o)
	for {
		select {
		case <-ctx.Done():
			return
		case <-obs:
			metrics.LeaderChanges.Inc()
		}
	}
}
