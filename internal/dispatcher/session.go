package dispatcher

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/manager/allocator"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/network/view"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

var errReplaced = errdefs.Conflict("a newer session of this node replaced this one")

var errMarkedDown = errdefs.Unavailable("the node is marked down in the swarm's state while its session is open; open a new session")

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
	if err := d.markReady(ctx, id.NodeID, peerIP(ctx), req); err != nil {
		return toStatus(err)
	}
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	// Starting the session makes the term's router wake it: it does so
	// before the first read, so that a change committed between the two
	// shows as a wake-up, never as a gap.
	s, err := d.startSession(tm, id.NodeID, end, ctx.Done())
	if err != nil {
		return toStatus(err)
	}
	defer d.endSession(s)
	log.Info("session started", "session.id", s.id)

	var told *nodeView
	var sz sizer
	rejected := map[string]bool{} // tasks left out, already reported
	for {
		cur, err := d.readNodeView(tm.router, id.NodeID)
		if err != nil {
			return toStatus(err)
		}
		if cur.node.Status.State == swarm.NodeStateDown {
			// markDown ends the sessions it finds, but not one between
			// markReady and startSession, which would go on, heartbeats
			// accepted, beside a node held down: no task placed on it,
			// its tasks replaced elsewhere. Every change of the node
			// wakes its session, so whatever wrote it down, the session
			// ends here and the agent's next one marks it ready.
			log.Info("session ended: the node is marked down", "session.id", s.id)
			return toStatus(errMarkedDown)
		}
		cur.node = agentNode(cur.node, &sz)
		base, room, err := envelope(s.id, cur, d.maxMessage)
		if err != nil {
			return toStatus(err)
		}
		cur, left := fit(cur, room, &sz)
		if err := d.reject(ctx, tm, id.NodeID, left, rejected); err != nil {
			return toStatus(err)
		}
		// The network view rides with the first message of the round
		// that changed it: the agent sets up the networks before it
		// starts the tasks on them.
		var networks *view.Node
		if told == nil || !reflect.DeepEqual(told.networks, cur.networks) {
			networks = cur.networks
		}
		set, ok := nextAssignments(told, cur)
		var parts []AssignmentSet
		if ok {
			parts = split(set, room, &sz)
		} else if networks != nil {
			parts = []AssignmentSet{{}}
		}
		if err := d.send(stream, base, networks, parts); err != nil {
			return err
		}
		told = cur
		sz.round()
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); cause != context.Canceled {
				log.Info("session ended", "session.id", s.id, "reason", cause)
				return toStatus(cause)
			}
			return ctx.Err()
		case <-s.wake:
		}
	}
}

// send sends the parts of an assignment set, each in base, the first
// with the network view when it is not nil. A part is encoded here, to
// check it is within the limit the agent accepts before it goes: split
// packs to an upper bound, so it always is; a view that does not fit
// beside the first part goes in a message of its own before it.
func (d *Dispatcher) send(stream grpc.ServerStream, base SessionMessage, networks *view.Node, parts []AssignmentSet) error {
	for i, p := range parts {
		msg := base
		msg.Assignments = p
		if i == 0 && networks != nil {
			msg.Networks = networks
			b, err := json.Marshal(&msg)
			if err != nil {
				return toStatus(fmt.Errorf("encode session message: %w", err))
			}
			if len(b) <= d.maxMessage {
				if err := stream.SendMsg(json.RawMessage(b)); err != nil {
					return err
				}
				continue
			}
			if err := d.sendNetworks(stream, base, networks); err != nil {
				return toStatus(err)
			}
			msg.Networks = nil
		}
		b, err := json.Marshal(&msg)
		if err != nil {
			return toStatus(fmt.Errorf("encode session message: %w", err))
		}
		if len(b) > d.maxMessage {
			return toStatus(fmt.Errorf("session message of %d bytes, past the %d an agent accepts: assignments were packed wrongly", len(b), d.maxMessage))
		}
		if err := stream.SendMsg(json.RawMessage(b)); err != nil {
			return err
		}
	}
	return nil
}

// sendNetworks sends the node's network view alone, with an empty
// assignment set that changes nothing.
func (d *Dispatcher) sendNetworks(stream grpc.ServerStream, base SessionMessage, v *view.Node) error {
	msg := base
	msg.Networks = v
	b, err := json.Marshal(&msg)
	if err != nil {
		return fmt.Errorf("encode the network view: %w", err)
	}
	if len(b) > d.maxMessage {
		return fmt.Errorf("the network view takes %d bytes, past the %d an agent accepts", len(b), d.maxMessage)
	}
	return stream.SendMsg(json.RawMessage(b))
}

// reject reports as rejected, on the node's behalf, the tasks left out of
// its assignments that are not ended yet, each once per session
// (rejected holds those reported; it is trimmed to those still left out).
// It does not wait for the report to be committed.
func (d *Dispatcher) reject(ctx context.Context, tm *term, nodeID string, left []leftOut, rejected map[string]bool) error {
	still := make(map[string]bool, len(left))
	var updates []TaskStatusUpdate
	for _, l := range left {
		still[l.task.ID] = true
		if rejected[l.task.ID] || taskstate.Terminal(l.task.Status.State) {
			continue
		}
		d.log.Warn("task left out of its node's assignments", "node.id", nodeID, "task.id", l.task.ID, "reason", l.why)
		updates = append(updates, TaskStatusUpdate{TaskID: l.task.ID, Status: swarm.TaskStatus{
			Timestamp: d.clock.Now(),
			State:     swarm.TaskStateRejected,
			Message:   "assignment too large",
			Err:       l.why,
		}})
	}
	for id := range rejected {
		if !still[id] {
			delete(rejected, id)
		}
	}
	if len(updates) == 0 {
		return nil
	}
	r := &statusRequest{nodeID: nodeID, updates: updates, done: make(chan error, 1)}
	select {
	case d.statusQueue <- r:
	case <-tm.done:
		return &notLeaderError{leader: d.leaderAddr()}
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, u := range updates {
		rejected[u.TaskID] = true
	}
	return nil
}

// markReady records, in one update, that the node is up at addr with the
// description and tunnel key its agent sent, and the addresses the
// allocator would give it next: a node just joined (or just initialised)
// is written once, so that a client reading it once its agent's session
// began can update it with the version it read.
func (d *Dispatcher) markReady(ctx context.Context, nodeID, addr string, req *SessionRequest) error {
	desc := req.Description
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
		if req.TunnelKey != "" && (c.Tunnel == nil || c.Tunnel.PublicKey != req.TunnelKey) {
			// A new key needs a new tunnel address too: the allocator
			// gives one.
			c.Tunnel = &store.Tunnel{PublicKey: req.TunnelKey}
		}
		c = allocator.NodeAddresses(tx.ReadTx, c)
		if sameNode(n, c) {
			// A session that changes nothing (a reconnect to a new
			// leader) leaves the node's version alone, so that a client
			// updating the node from what it just read is not refused.
			return nil
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

// sameNode reports whether two versions of a node encode the same.
func sameNode(a, b *store.Node) bool {
	da, errA := json.Marshal(a)
	db, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

// startSession makes a new session the node's current one, ending the
// one before, unless the leadership term it began in is over.
func (d *Dispatcher) startSession(tm *term, nodeID string, end context.CancelCauseFunc, done <-chan struct{}) (*session, error) {
	s := &session{id: identity.NewID(), nodeID: nodeID, end: end, done: done, wake: make(chan struct{}, 1), logs: newLogQueue()}
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
	d.told[nodeID] = tm.router.wide.Load().period
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

// wakeSessions tells the sessions of nodes, or every session, to read
// their node's view again.
func (d *Dispatcher) wakeSessions(nodes map[string]bool, all bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if all {
		for _, s := range d.sessions {
			s.poke()
		}
		return
	}
	for id := range nodes {
		if s := d.sessions[id]; s != nil {
			s.poke()
		}
	}
}

// nodeView is what a node's agent is to know at one moment.
type nodeView struct {
	node     *store.Node
	wide     *clusterWide
	networks *view.Node    // the node's part of the network view
	tasks    []*store.Task // its assignments, by ID
	// secrets and configs are those its tasks use (dependencyIDs), by ID.
	secrets []*store.Secret
	configs []*store.Config
}

// readNodeView reads the node's object and assignments, with the
// router's cluster-wide part.
func (d *Dispatcher) readNodeView(r *router, nodeID string) (*nodeView, error) {
	v := &nodeView{wide: r.wide.Load(), networks: r.networks.Load().ForNode(nodeID)}
	if v.wide.err != nil {
		return nil, v.wide.err
	}
	d.store.View(func(tx store.ReadTx) {
		v.node = store.Get[*store.Node](tx, nodeID)
		if v.node == nil {
			return
		}
		for _, t := range store.TasksByNode(tx, nodeID) {
			// A plain container's network attachment is no agent's to run.
			if inAssignments(t.Status.State) && !swarmnet.IsAttachment(t) {
				v.tasks = append(v.tasks, t)
			}
		}
		v.secrets, v.configs = readDependencies(tx, v.tasks)
	})
	if v.node == nil {
		return nil, errdefs.NotFound("node %s was removed from the swarm", nodeID)
	}
	slices.SortFunc(v.tasks, func(a, b *store.Task) int { return cmp.Compare(a.ID, b.ID) })
	return v, nil
}

// nextAssignments decides what an agent that was told told (nil before
// the first message) is sent now that its view is cur, and whether
// anything is sent at all. The first message, and one after a task, secret
// or config left the set, is the full set; otherwise only the tasks,
// secrets and configs that are new or changed go, so that a node with many
// tasks is not sent all of them for each one that changes. The tasks'
// statuses are left out of the comparison, since the agent reported them
// itself: its own reports do not echo back.
func nextAssignments(told, cur *nodeView) (AssignmentSet, bool) {
	full := AssignmentSet{Full: true, Tasks: cur.tasks, Secrets: cur.secrets, Configs: cur.configs}
	if told == nil {
		return full, true
	}
	tasks, tasksLeft := diffByID(told.tasks, cur.tasks, func(t *store.Task) string { return t.ID }, sameTaskForAgent)
	secrets, secretsLeft := diffByID(told.secrets, cur.secrets, func(s *store.Secret) string { return s.ID }, sameSecret)
	configs, configsLeft := diffByID(told.configs, cur.configs, func(c *store.Config) string { return c.ID }, sameConfig)
	if tasksLeft || secretsLeft || configsLeft {
		return full, true
	}
	send := len(tasks) > 0 || len(secrets) > 0 || len(configs) > 0 ||
		!reflect.DeepEqual(told.node.Spec, cur.node.Spec) || !sameForAgents(told.wide, cur.wide)
	return AssignmentSet{Tasks: tasks, Secrets: secrets, Configs: configs}, send
}

// diffByID compares two lists sorted by ID: changed holds the items of cur
// that are not in told or differ from their told version, and left
// reports whether an item of told is not in cur.
func diffByID[T any](told, cur []T, id func(T) string, same func(a, b T) bool) (changed []T, left bool) {
	i, j := 0, 0
	for i < len(told) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(told) && id(told[i]) < id(cur[j])):
			return changed, true
		case i == len(told) || id(cur[j]) < id(told[i]):
			changed = append(changed, cur[j])
			j++
		default:
			if !same(told[i], cur[j]) {
				changed = append(changed, cur[j])
			}
			i++
			j++
		}
	}
	return changed, false
}

// sameForAgents reports whether a and b tell agents the same.
func sameForAgents(a, b *clusterWide) bool {
	return a == b || (a.period == b.period && slices.Equal(a.managers, b.managers) && reflect.DeepEqual(a.rootCA, b.rootCA))
}

func sameTaskForAgent(a, b *store.Task) bool {
	if a == b {
		return true
	}
	ca, cb := *a, *b
	ca.Meta, cb.Meta = swarm.Meta{}, swarm.Meta{}
	ca.Status, cb.Status = swarm.TaskStatus{}, swarm.TaskStatus{}
	return reflect.DeepEqual(ca, cb)
}

// sameSecret and sameConfig compare what an agent holds of them: their
// data never changes, their labels may.
func sameSecret(a, b *store.Secret) bool {
	return a == b || reflect.DeepEqual(a.Spec, b.Spec)
}

func sameConfig(a, b *store.Config) bool {
	return a == b || reflect.DeepEqual(a.Spec, b.Spec)
}
