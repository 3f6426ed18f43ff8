package dispatcher

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// Heartbeat records that the session's node is alive and says when the
// next heartbeat is due.
func (d *Dispatcher) Heartbeat(ctx context.Context, req *HeartbeatRequest) (*HeartbeatResponse, error) {
	id, _, err := d.caller(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	period := d.period()
	d.mu.Lock()
	s := d.sessions[id.NodeID]
	if s != nil && s.id == req.SessionID {
		d.lastSeen[id.NodeID] = d.clock.Now()
		d.told[id.NodeID] = period
	}
	d.mu.Unlock()
	if s == nil || s.id != req.SessionID {
		return nil, toStatus(errdefs.NotFound("session %q of node %s is not current: open a new session", req.SessionID, id.NodeID))
	}
	return &HeartbeatResponse{Period: period}, nil
}

// expired decides which ready nodes missed their heartbeats: those not seen
// for timeout. A node not seen since this manager began leading (since) is
// counted from then, with at least NewLeaderGrace, so that nodes of an
// earlier leader have time to find the new one: an agent may be waiting out
// its reconnect backoff when the leader changes, and marking every node
// down at a leader change would replace every task. next is when the earliest of the others expires
// (zero when none). A node keeps beating at the period it was last told
// until it hears the new one, so it gets the grace of the longer of that
// period and the current one (told may be nil): shortening the period must
// not mark every node down at once.
func expired(nodes []*store.Node, lastSeen map[string]time.Time, told map[string]time.Duration, since, now time.Time, period time.Duration) (down []string, next time.Time) {
	for _, n := range nodes {
		if n.Status.State != swarm.NodeStateReady {
			continue
		}
		seen := lastSeen[n.ID]
		grace := max(period, told[n.ID]) * HeartbeatGrace
		if seen.Before(since) {
			seen, grace = since, max(grace, NewLeaderGrace)
		}
		deadline := seen.Add(grace)
		if !now.Before(deadline) {
			down = append(down, n.ID)
			continue
		}
		if next.IsZero() || deadline.Before(next) {
			next = deadline
		}
	}
	return down, next
}

var errHeartbeatExpired = errdefs.Unavailable("no heartbeat within the grace period: the node was marked down; open a new session")

// expireHeartbeats marks down the nodes whose heartbeats stopped, and ends
// their sessions, until ctx ends. since is when this manager began leading.
func (d *Dispatcher) expireHeartbeats(ctx context.Context, since time.Time) {
	for {
		var nodes []*store.Node
		var period time.Duration
		d.store.View(func(tx store.ReadTx) {
			nodes = store.All[*store.Node](tx)
			period = heartbeatPeriod(tx)
		})
		now := d.clock.Now()
		d.mu.Lock()
		down, next := expired(nodes, d.lastSeen, d.told, since, now, period)
		d.mu.Unlock()
		if len(down) > 0 {
			d.markDown(ctx, down, now.Add(-period*HeartbeatGrace))
		}
		wait := period
		if !next.IsZero() && next.Sub(now) < wait {
			wait = next.Sub(now)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(wait):
		}
	}
}

// markDown marks nodes down in one update and ends their sessions, except
// those heard from after cutoff meanwhile. A failure is logged: the next
// round tries again.
func (d *Dispatcher) markDown(ctx context.Context, ids []string, cutoff time.Time) {
	var marked []string
	err := d.store.Update(ctx, func(tx *store.WriteTx) error {
		marked = marked[:0]
		for _, id := range ids {
			n := store.Get[*store.Node](tx.ReadTx, id)
			if n == nil || n.Status.State != swarm.NodeStateReady || d.seenAfter(id, cutoff) {
				continue
			}
			marked = append(marked, id)
			c := *n
			c.Status = swarm.NodeStatus{State: swarm.NodeStateDown, Message: "heartbeat failure", Addr: n.Status.Addr}
			if err := tx.Put(&c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.log.Warn("cannot mark nodes down after heartbeat failure", "nodes", ids, "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A session that began while the update was in raft ends too: the
	// node is down in the store, and a new session marks it ready again.
	for _, id := range marked {
		d.log.Info("node down: heartbeat failure", "node.id", id)
		if s := d.sessions[id]; s != nil {
			s.end(errHeartbeatExpired)
			delete(d.sessions, id)
		}
		delete(d.lastSeen, id)
		delete(d.told, id)
	}
}

func (d *Dispatcher) seenAfter(nodeID string, t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastSeen[nodeID].After(t)
}
