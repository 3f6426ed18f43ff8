package dispatcher

import (
	"cmp"
	"context"
	"reflect"
	"slices"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/store"
)

var errReplaced = errdefs.Conflict("a newer session of this node replaced this one")

// Session serves a node's session: it marks the node ready, then streams
// the node's assignments, again each time they change, until the node goes
// away, a newer session replaces this one or the node is marked down.
func (d *Dispatcher) Session(req *SessionRequest, stream grpc.ServerStream) error {
	ctx := stream.Context()
	id, tm, err := d.caller(ctx)
	if err != nil {
		return toStatus(err)
	}
	log := d.log.With("node.id", id.NodeID)
	if err := d.markReady(ctx, id.NodeID, peerIP(ctx), req.Description); err != nil {
		return toStatus(err)
	}
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	s, err := d.startSession(tm, id.NodeID, end, ctx.Done())
	if err != nil {
		return toStatus(err)
	}
	defer d.endSession(s)
	log.Info("session started", "session.id", s.id)

	// Subscribe before the first read: a change committed between the two
	// then shows as an event, never as a gap.
	sub := d.store.Subscribe()
	// Close it as soon as the session ends, even while a send to a node
	// that stopped reading blocks: events must not pile up for nobody.
	defer context.AfterFunc(ctx, sub.Close)()
	defer sub.Close()
	var sent *SessionMessage
	for dirty := true; ; {
		if dirty {
			var msg *SessionMessage
			var err error
			d.store.View(func(tx store.ReadTx) { msg, err = sessionMessage(tx, id.NodeID) })
			if err != nil {
				return toStatus(err)
			}
			msg.SessionID = s.id
			if sent == nil || !sameForAgent(sent, msg) {
				msg.Assignments.Full = true
				if err := stream.SendMsg(msg); err != nil {
					return err
				}
				sent = msg
			}
		}
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); cause != context.Canceled {
				log.Info("session ended", "session.id", s.id, "reason", cause)
				return toStatus(cause)
			}
			return ctx.Err()
		case <-sub.Wake():
			dirty = concernsSession(sub.Drain(), id.NodeID, sent)
		}
	}
}

// markReady records, in one update, that the node is up at addr with the
// description its agent sent.
func (d *Dispatcher) markReady(ctx context.Context, nodeID, addr string, desc *swarm.NodeDescription) error {
	err := d.store.Update(ctx, func(tx *store.WriteTx) error {
		n := store.Get[*store.Node](tx.ReadTx, nodeID)
		if n == nil {
			return errdefs.NotFound("node %s is not a member of this swarm (it has no node object: it was removed, or never finished joining); leave the swarm and join again", nodeID)
		}
		c := store.Clone(n)
		c.Status = swarm.NodeStatus{State: swarm.NodeStateReady, Addr: addr}
		if desc != nil {
			tls := c.Description.TLSInfo
			c.Description = *desc
			if c.Description.TLSInfo.TrustRoot == "" {
				c.Description.TLSInfo = tls
			}
		}
		return tx.Put(c)
	})
	if errdefs.Is(err, errdefs.KindNotFound) {
		return err
	}
	if err != nil {
		return d.storeError(err)
	}
	return nil
}

// startSession makes a new session the node's current one, ending the
// one before, unless the leadership term it began in is over.
func (d *Dispatcher) startSession(tm *term, nodeID string, end context.CancelCauseFunc, done <-chan struct{}) (*session, error) {
	s := &session{id: identity.NewID(), nodeID: nodeID, end: end, done: done, logs: newLogQueue()}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.term != tm {
		return nil, &notLeaderError{leader: d.leaderAddr()}
	}
	if old := d.sessions[nodeID]; old != nil {
		old.end(errReplaced)
	}
	d.sessions[nodeID] = s
	d.lastSeen[nodeID] = d.clock.Now()
	d.told[nodeID] = d.period()
	close(d.sessionStarted)
	d.sessionStarted = make(chan struct{})
	return s, nil
}

func (d *Dispatcher) endSession(s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sessions[s.nodeID] == s {
		delete(d.sessions, s.nodeID)
	}
}

// sessionMessage reads what a node's agent is sent.
func sessionMessage(tx store.ReadTx, nodeID string) (*SessionMessage, error) {
	n := store.Get[*store.Node](tx, nodeID)
	if n == nil {
		return nil, errdefs.NotFound("node %s was removed from the swarm", nodeID)
	}
	msg := &SessionMessage{Node: n, HeartbeatPeriod: heartbeatPeriod(tx)}
	if c := store.TheCluster(tx); c != nil && len(c.RootCACert) > 0 {
		info, err := rootca.Desired(c)
		if err != nil {
			return nil, err
		}
		msg.RootCA = info
	}
	for _, m := range store.All[*store.Node](tx) {
		if m.ManagerStatus != nil && m.ManagerStatus.Addr != "" {
			msg.Managers = append(msg.Managers, m.ManagerStatus.Addr)
			msg.managerIDs = append(msg.managerIDs, m.ID)
		}
	}
	slices.Sort(msg.Managers)
	for _, t := range store.TasksByNode(tx, nodeID) {
		if inAssignments(t.Status.State) {
			msg.Assignments.Tasks = append(msg.Assignments.Tasks, t)
		}
	}
	slices.SortFunc(msg.Assignments.Tasks, func(a, b *store.Task) int { return cmp.Compare(a.ID, b.ID) })
	return msg, nil
}

// sameForAgent reports whether b tells an agent nothing a has not: the
// tasks' statuses are left out, since the agent reported them itself, so
// its own reports do not echo back as new assignment sets.
func sameForAgent(a, b *SessionMessage) bool {
	if a.HeartbeatPeriod != b.HeartbeatPeriod || !slices.Equal(a.Managers, b.Managers) || !reflect.DeepEqual(a.RootCA, b.RootCA) ||
		!reflect.DeepEqual(a.Node.Spec, b.Node.Spec) || len(a.Assignments.Tasks) != len(b.Assignments.Tasks) {
		return false
	}
	for i, ta := range a.Assignments.Tasks {
		if !sameTaskForAgent(ta, b.Assignments.Tasks[i]) {
			return false
		}
	}
	return true
}

func sameTaskForAgent(a, b *store.Task) bool {
	ca, cb := *a, *b
	ca.Meta, cb.Meta = swarm.Meta{}, swarm.Meta{}
	ca.Status, cb.Status = swarm.TaskStatus{}, swarm.TaskStatus{}
	return reflect.DeepEqual(ca, cb)
}

// concernsSession reports whether events may change what the node's agent
// is sent: its tasks (including ones that left its set), its node object,
// the managers' list, the cluster spec.
func concernsSession(evs []store.Event, nodeID string, sent *SessionMessage) bool {
	for _, ev := range evs {
		switch o := ev.Object.(type) {
		case nil: // the store was replaced by a snapshot
			return true
		case *store.Cluster:
			return true
		case *store.Node:
			if o.ID == nodeID || o.ManagerStatus != nil {
				return true
			}
			// A node that stopped being a manager changes the list.
			if sent != nil && slices.Contains(sent.managerIDs, o.ID) {
				return true
			}
		case *store.Task:
			if o.NodeID == nodeID {
				return true
			}
			if sent != nil && slices.ContainsFunc(sent.Assignments.Tasks, func(t *store.Task) bool { return t.ID == o.ID }) {
				return true
			}
		}
	}
	return false
}
