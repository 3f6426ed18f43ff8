package dispatcher

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
	"github.com/shoal-project/shoal/internal/store"
)

// counter counts the store updates that reach raft.
type counter struct {
	p store.Proposer
	n atomic.Int64
}

func (c *counter) Propose(ctx context.Context, data []byte) error {
	c.n.Add(1)
	return c.p.Propose(ctx, data)
}

// testManager is a manager's dispatcher on a real cluster port, over a
// store replicated by a single-member raft.
type testManager struct {
	root      *ca.RootCA
	st        *store.Store
	proposals *counter
	addr      string
	d         *Dispatcher
	// stopLeading ends the leadership term, if the manager leads.
	stopLeading func()
}

// newTestManager starts a dispatcher; one that leads runs RunLeader until
// the test ends or stopLeading.
func newTestManager(t *testing.T, cfg Config, leads bool) *testManager {
	t.Helper()
	st, raftNode := consensustest.NewNode(t)
	proposals := &counter{p: raftNode}
	st.SetProposer(proposals)
	root := clusterconntest.NewRoot(t)
	mux := clusterconntest.Listen(t, root, clusterconntest.NewNode(t, root, ca.ManagerRole))
	cfg.Store = st
	if cfg.Attachments == nil {
		cfg.Attachments = controlapi.New(st)
	}
	d := New(cfg)
	m := &testManager{root: root, st: st, proposals: proposals, addr: mux.Addr().String(), d: d, stopLeading: func() {}}
	if leads {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.RunLeader(ctx)
		}()
		m.stopLeading = func() {
			cancel()
			<-done
		}
		t.Cleanup(m.stopLeading)
	}
	clusterconntest.ServeGRPC(t, mux, Policy(), d.Register)
	return m
}

// addNode issues a certificate and creates the node's object, as joining
// does.
func (m *testManager) addNode(t *testing.T, role ca.Role) clusterconntest.Node {
	t.Helper()
	n := clusterconntest.NewNode(t, m.root, role)
	spec := swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive}
	if role == ca.ManagerRole {
		spec.Role = swarm.NodeRoleManager
	}
	m.update(t, func(tx *store.WriteTx) error {
		return tx.Put(&store.Node{Node: swarm.Node{ID: n.ID, Spec: spec, Status: swarm.NodeStatus{State: swarm.NodeStateUnknown}}})
	})
	return n
}

func (m *testManager) client(t *testing.T, n *clusterconntest.Node) *Client {
	t.Helper()
	return NewClient(clusterconntest.Dial(t, m.root, m.addr, n))
}

func (m *testManager) update(t *testing.T, fn func(tx *store.WriteTx) error) {
	t.Helper()
	if err := m.st.Update(t.Context(), fn); err != nil {
		t.Fatalf("store update: %v", err)
	}
}

func (m *testManager) putTasks(t *testing.T, tasks ...*store.Task) {
	t.Helper()
	m.update(t, func(tx *store.WriteTx) error {
		for _, task := range tasks {
			if err := tx.Put(task); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *testManager) task(id string) *store.Task {
	var t *store.Task
	m.st.View(func(tx store.ReadTx) { t = store.Get[*store.Task](tx, id) })
	return t
}

func (m *testManager) node(id string) *store.Node {
	var n *store.Node
	m.st.View(func(tx store.ReadTx) { n = store.Get[*store.Node](tx, id) })
	return n
}

// waitFor polls cond until it holds, or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openSession opens a session and delivers its messages on a channel, closed
// with the stream's end; the error that ended it is sent on errc.
func openSession(t *testing.T, ctx context.Context, c *Client, desc *swarm.NodeDescription) (<-chan *SessionMessage, <-chan error) {
	t.Helper()
	stream, err := c.Session(ctx, &SessionRequest{Description: desc})
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	msgs := make(chan *SessionMessage, 16)
	errc := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			msgs <- m
		}
	}()
	return msgs, errc
}

func recv(t *testing.T, msgs <-chan *SessionMessage) *SessionMessage {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if !ok {
			t.Fatal("session ended, want a message")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no session message within 10 s")
	}
	return nil
}

func recvErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("session still open after 10 s, want it ended")
	}
	return nil
}

func taskIDs(set AssignmentSet) []string {
	var ids []string
	for _, t := range set.Tasks {
		ids = append(ids, t.ID)
	}
	return ids
}

func assigned(id, nodeID string) *store.Task {
	return task(id, nodeID, swarm.TaskStateAssigned, swarm.TaskStateRunning)
}

func TestSession(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	worker := m.addNode(t, ca.WorkerRole)
	other := m.addNode(t, ca.WorkerRole)
	m.putTasks(t,
		assigned("t1", worker.ID),
		task("t0", worker.ID, swarm.TaskStateFailed, swarm.TaskStateShutdown),
		task("pending", "", swarm.TaskStatePending, swarm.TaskStateRunning),
		assigned("elsewhere", other.ID),
	)
	c := m.client(t, &worker)
	msgs, _ := openSession(t, t.Context(), c, &swarm.NodeDescription{Hostname: "worker-1"})

	first := recv(t, msgs)
	if first.SessionID == "" || !first.Assignments.Full || first.HeartbeatPeriod != DefaultHeartbeatPeriod || first.Node.ID != worker.ID {
		t.Errorf("first message got session %q full %v period %v node %s; want a session, a full set, %v, node %s",
			first.SessionID, first.Assignments.Full, first.HeartbeatPeriod, first.Node.ID, DefaultHeartbeatPeriod, worker.ID)
	}
	if diff := cmp.Diff([]string{"t0", "t1"}, taskIDs(first.Assignments)); diff != "" {
		t.Errorf("first assignments (-want +got):\n%s", diff)
	}
	n := m.node(worker.ID)
	if n.Status.State != swarm.NodeStateReady || n.Status.Addr != "127.0.0.1" || n.Description.Hostname != "worker-1" {
		t.Errorf("node after session start got status %+v, hostname %q; want ready at 127.0.0.1, worker-1", n.Status, n.Description.Hostname)
	}

	// The agent's own report does not come back as a new set; the next
	// message is the following change: a new task.
	if err := c.UpdateTaskStatus(t.Context(), &UpdateTaskStatusRequest{SessionID: first.SessionID, Updates: []TaskStatusUpdate{
		{TaskID: "t1", Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: time.Now()}},
	}}); err != nil {
		t.Fatalf("UpdateTaskStatus: %v", err)
	}
	// Only the new task is sent: the agent keeps the others.
	m.putTasks(t, assigned("t2", worker.ID), assigned("elsewhere2", other.ID))
	second := recv(t, msgs)
	if diff := cmp.Diff([]string{"t2"}, taskIDs(second.Assignments)); diff != "" || second.Assignments.Full {
		t.Errorf("second assignments got full %v (-want +got):\n%s; want only the new task", second.Assignments.Full, diff)
	}

	// Stopping a task and deleting one are changes too; a task gone makes
	// the set a full one.
	m.update(t, func(tx *store.WriteTx) error {
		c := *store.Get[*store.Task](tx.ReadTx, "t1")
		c.DesiredState = swarm.TaskStateShutdown
		if err := tx.Put(&c); err != nil {
			return err
		}
		return tx.Delete(store.Get[*store.Task](tx.ReadTx, "t0"))
	})
	third := recv(t, msgs)
	if diff := cmp.Diff([]string{"t1", "t2"}, taskIDs(third.Assignments)); diff != "" || !third.Assignments.Full {
		t.Fatalf("third assignments got full %v (-want +got):\n%s; want the full set", third.Assignments.Full, diff)
	}
	if got := third.Assignments.Tasks[0]; got.DesiredState != swarm.TaskStateShutdown || got.Status.State != swarm.TaskStateRunning {
		t.Errorf("t1 in the third set got desired state %s, state %s; want shutdown, running", got.DesiredState, got.Status.State)
	}
}

// Every session hears of the managers' list changing, whichever node's
// object changed.
func TestSessionFollowsManagers(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	workers := []clusterconntest.Node{m.addNode(t, ca.WorkerRole), m.addNode(t, ca.WorkerRole)}
	var streams []<-chan *SessionMessage
	for i := range workers {
		msgs, _ := openSession(t, t.Context(), m.client(t, &workers[i]), nil)
		if got := recv(t, msgs).Managers; len(got) != 0 {
			t.Fatalf("first message got managers %v, want none", got)
		}
		streams = append(streams, msgs)
	}
	mgr := m.addNode(t, ca.ManagerRole)
	setManager := func(addr string) {
		t.Helper()
		m.update(t, func(tx *store.WriteTx) error {
			c := store.Clone(store.Get[*store.Node](tx.ReadTx, mgr.ID))
			c.ManagerStatus = nil
			if addr != "" {
				c.ManagerStatus = &swarm.ManagerStatus{Addr: addr}
			}
			return tx.Put(c)
		})
	}
	setManager("10.0.0.1:2377")
	for i, msgs := range streams {
		if got := recv(t, msgs); !cmp.Equal(got.Managers, []string{"10.0.0.1:2377"}) || len(got.Assignments.Tasks) != 0 {
			t.Errorf("worker %d got managers %v, tasks %v; want the new manager, no tasks", i, got.Managers, taskIDs(got.Assignments))
		}
	}
	setManager("")
	for i, msgs := range streams {
		if got := recv(t, msgs).Managers; len(got) != 0 {
			t.Errorf("worker %d got managers %v after the demotion, want none", i, got)
		}
	}
}

func TestRemovedNodeSessionEnds(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	worker := m.addNode(t, ca.WorkerRole)
	msgs, errc := openSession(t, t.Context(), m.client(t, &worker), nil)
	recv(t, msgs)
	m.update(t, func(tx *store.WriteTx) error { return tx.Delete(store.Get[*store.Node](tx.ReadTx, worker.ID)) })
	if err := recvErr(t, errc); status.Code(err) != codes.NotFound {
		t.Errorf("the removed node's session ended with %v, want NotFound", err)
	}
}

func TestSessionRefusals(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	unknown := clusterconntest.NewNode(t, m.root, ca.WorkerRole) // a certificate but no node object
	tests := []struct {
		name string
		node *clusterconntest.Node
		want codes.Code
	}{
		{name: "no certificate", node: nil, want: codes.Unauthenticated},
		{name: "no node object", node: &unknown, want: codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := m.client(t, tt.node)
			_, errc := openSession(t, t.Context(), c, nil)
			err := recvErr(t, errc)
			if got := status.Code(err); got != tt.want {
				t.Errorf("got %v (%v), want %v", got, err, tt.want)
			}
			if err := c.UpdateTaskStatus(t.Context(), &UpdateTaskStatusRequest{SessionID: "x", Updates: []TaskStatusUpdate{{TaskID: "t"}}}); status.Code(err) == codes.OK {
				t.Error("UpdateTaskStatus without a session succeeded")
			}
		})
	}
}

func TestFollowerRefersToLeader(t *testing.T) {
	const leader = "192.0.2.1:2377"
	m := newTestManager(t, Config{LeaderAddr: func() string { return leader }}, false)
	worker := m.addNode(t, ca.WorkerRole)
	c := m.client(t, &worker)
	_, errc := openSession(t, t.Context(), c, nil)
	err := recvErr(t, errc)
	if status.Code(err) != codes.Unavailable || LeaderHint(err) != leader {
		t.Errorf("session on a follower got %v (hint %q), want Unavailable with hint %q", err, LeaderHint(err), leader)
	}
	_, err = c.Heartbeat(t.Context(), &HeartbeatRequest{SessionID: "x"})
	if status.Code(err) != codes.Unavailable || LeaderHint(err) != leader {
		t.Errorf("heartbeat on a follower got %v (hint %q), want Unavailable with hint %q", err, LeaderHint(err), leader)
	}
	if got := m.node(worker.ID).Status.State; got != swarm.NodeStateUnknown {
		t.Errorf("a follower changed the node's state to %s", got)
	}
}

// A manager that stops leading ends its sessions at once, naming the new
// leader, rather than letting nodes find out by failed heartbeats.
func TestLeadershipLostEndsSessions(t *testing.T) {
	const leader = "192.0.2.1:2377"
	m := newTestManager(t, Config{LeaderAddr: func() string { return leader }}, true)
	worker := m.addNode(t, ca.WorkerRole)
	c := m.client(t, &worker)
	msgs, errc := openSession(t, t.Context(), c, nil)
	sid := recv(t, msgs).SessionID
	m.stopLeading()
	if err := recvErr(t, errc); status.Code(err) != codes.Unavailable || LeaderHint(err) != leader {
		t.Errorf("session got %v (hint %q), want Unavailable with hint %q", err, LeaderHint(err), leader)
	}
	err := c.UpdateTaskStatus(t.Context(), &UpdateTaskStatusRequest{SessionID: sid, Updates: []TaskStatusUpdate{{TaskID: "t"}}})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("status update after leadership was lost got %v, want Unavailable", err)
	}
}

func TestNewSessionReplacesOld(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	worker := m.addNode(t, ca.WorkerRole)
	c := m.client(t, &worker)
	msgs1, errc1 := openSession(t, t.Context(), c, nil)
	old := recv(t, msgs1)
	msgs2, _ := openSession(t, t.Context(), c, nil)
	cur := recv(t, msgs2)
	if err := recvErr(t, errc1); status.Code(err) != codes.Aborted {
		t.Errorf("replaced session ended with %v, want Aborted", err)
	}
	if _, err := c.Heartbeat(t.Context(), &HeartbeatRequest{SessionID: old.SessionID}); status.Code(err) != codes.NotFound {
		t.Errorf("heartbeat of the replaced session got %v, want NotFound", err)
	}
	resp, err := c.Heartbeat(t.Context(), &HeartbeatRequest{SessionID: cur.SessionID})
	if err != nil || resp.Period != DefaultHeartbeatPeriod {
		t.Errorf("heartbeat of the current session got %+v, %v; want period %v", resp, err, DefaultHeartbeatPeriod)
	}
}

func TestReconnectLeavesTheNodeVersion(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	worker := m.addNode(t, ca.WorkerRole)
	c := m.client(t, &worker)
	desc := &swarm.NodeDescription{Hostname: "worker-1"}
	msgs1, _ := openSession(t, t.Context(), c, desc)
	recv(t, msgs1)
	before := m.node(worker.ID).Version.Index
	msgs2, _ := openSession(t, t.Context(), c, desc)
	recv(t, msgs2)
	if after := m.node(worker.ID).Version.Index; after != before {
		t.Errorf("a second session with nothing new moved the node from version %d to %d: a client updating the node from what it read would be refused", before, after)
	}
	msgs3, _ := openSession(t, t.Context(), c, &swarm.NodeDescription{Hostname: "worker-1-renamed"})
	recv(t, msgs3)
	if n := m.node(worker.ID); n.Version.Index == before || n.Description.Hostname != "worker-1-renamed" {
		t.Errorf("a session with a new description left the node at version %d, hostname %q", n.Version.Index, n.Description.Hostname)
	}
}

func TestUpdateTaskStatus(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	worker := m.addNode(t, ca.WorkerRole)
	other := m.addNode(t, ca.WorkerRole)
	m.putTasks(t, assigned("t1", worker.ID), assigned("t2", worker.ID), assigned("theirs", other.ID))
	c := m.client(t, &worker)
	msgs, _ := openSession(t, t.Context(), c, nil)
	sid := recv(t, msgs).SessionID
	at := func(s swarm.TaskState, sec int) swarm.TaskStatus {
		return swarm.TaskStatus{State: s, Timestamp: epoch.Add(time.Duration(sec) * time.Second)}
	}
	send := func(updates ...TaskStatusUpdate) {
		t.Helper()
		if err := c.UpdateTaskStatus(t.Context(), &UpdateTaskStatusRequest{SessionID: sid, Updates: updates}); err != nil {
			t.Fatalf("UpdateTaskStatus: %v", err)
		}
	}

	before := m.proposals.n.Load()
	send(
		TaskStatusUpdate{TaskID: "t1", Status: at(swarm.TaskStateRunning, 2)},
		TaskStatusUpdate{TaskID: "t1", Status: at(swarm.TaskStateStarting, 1)}, // stale, in the same call
		TaskStatusUpdate{TaskID: "t2", Status: at(swarm.TaskStateFailed, 3)},
		TaskStatusUpdate{TaskID: "theirs", Status: at(swarm.TaskStateFailed, 3)},
		TaskStatusUpdate{TaskID: "gone", Status: at(swarm.TaskStateRunning, 3)},
	)
	if got := m.proposals.n.Load() - before; got != 1 {
		t.Errorf("one call made %d store updates, want 1", got)
	}
	send(TaskStatusUpdate{TaskID: "t1", Status: at(swarm.TaskStatePreparing, 4)}) // stale, later call
	for id, want := range map[string]swarm.TaskStatus{
		"t1":     at(swarm.TaskStateRunning, 2),
		"t2":     at(swarm.TaskStateFailed, 3),
		"theirs": {State: swarm.TaskStateAssigned},
	} {
		if diff := cmp.Diff(want, m.task(id).Status); diff != "" {
			t.Errorf("status of %s (-want +got):\n%s", id, diff)
		}
	}

	err := c.UpdateTaskStatus(t.Context(), &UpdateTaskStatusRequest{SessionID: "stale-session", Updates: []TaskStatusUpdate{{TaskID: "t1", Status: at(swarm.TaskStateComplete, 5)}}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("update with a stale session got %v, want NotFound", err)
	}
}

func TestHeartbeatExpiry(t *testing.T) {
	clock := fakeexec.NewManualClock(epoch)
	m := newTestManager(t, Config{Clock: clock}, true)
	live := m.addNode(t, ca.WorkerRole)
	silent := m.addNode(t, ca.WorkerRole)
	liveClient := m.client(t, &live)
	liveMsgs, _ := openSession(t, t.Context(), liveClient, nil)
	liveSession := recv(t, liveMsgs).SessionID
	silentMsgs, silentErrc := openSession(t, t.Context(), m.client(t, &silent), nil)
	recv(t, silentMsgs)

	// Both sessions see the silent node's state; advance a second at a
	// time, the live node heartbeating each time, until the silent one is
	// down.
	for step := 0; m.node(silent.ID).Status.State != swarm.NodeStateDown; step++ {
		if step > 60 {
			t.Fatalf("silent node still %s after 60 s of fake time", m.node(silent.ID).Status.State)
		}
		if _, err := liveClient.Heartbeat(t.Context(), &HeartbeatRequest{SessionID: liveSession}); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		clock.Advance(time.Second)
		// Give the expiry loop the chance to run at the new time.
		waitFor(t, "the expiry loop to wait on the clock", func() bool { return clock.Waiters() > 0 })
	}
	elapsed := clock.Now().Sub(epoch)
	if timeout := DefaultHeartbeatPeriod * HeartbeatGrace; elapsed < timeout {
		t.Errorf("silent node marked down after %v of fake time, want at least %v", elapsed, timeout)
	}
	if got := m.node(silent.ID).Status; got.Message != "heartbeat failure" {
		t.Errorf("down node got status %+v, want message %q", got, "heartbeat failure")
	}
	if got := m.node(live.ID).Status.State; got != swarm.NodeStateReady {
		t.Errorf("heartbeating node got state %s, want ready", got)
	}
	if err := recvErr(t, silentErrc); status.Code(err) != codes.Unavailable {
		t.Errorf("the down node's session ended with %v, want Unavailable", err)
	}
}

func TestLeaderHintAbsent(t *testing.T) {
	for _, err := range []error{nil, errors.New("plain"), status.Error(codes.Unavailable, "no details")} {
		if got := LeaderHint(err); got != "" {
			t.Errorf("LeaderHint(%v) got %q, want none", err, got)
		}
	}
}

// The expiry loop can mark a node down between the moment its agent's new
// session marked it ready and the moment the session became the node's
// current one: markDown then found no session to end. The session must
// not go on, heartbeats accepted, while the store says the node is down —
// no task would be placed on it until the session broke for another
// reason (RELIABILITY.md, finding 5). Here the node is written down as
// that markDown leaves it, its session untouched: the session must end,
// and the agent's next one marks the node ready.
func TestSessionEndsWhenItsNodeIsMarkedDown(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	n := m.addNode(t, ca.WorkerRole)
	c := m.client(t, &n)
	msgs, errc := openSession(t, t.Context(), c, nil)
	sid := recv(t, msgs).SessionID
	m.update(t, func(tx *store.WriteTx) error {
		node := *store.Get[*store.Node](tx.ReadTx, n.ID)
		node.Status = swarm.NodeStatus{State: swarm.NodeStateDown, Message: "heartbeat failure"}
		return tx.Put(&node)
	})
	if err := recvErr(t, errc); status.Code(err) != codes.Unavailable {
		t.Errorf("the session of a node marked down ended with %v, want Unavailable", err)
	}
	if _, err := c.Heartbeat(t.Context(), &HeartbeatRequest{SessionID: sid}); err == nil {
		t.Error("a heartbeat of the ended session was accepted")
	}
	msgs, _ = openSession(t, t.Context(), c, nil)
	recv(t, msgs)
	if got := m.node(n.ID).Status.State; got != swarm.NodeStateReady {
		t.Errorf("after a new session the node is %s, want ready", got)
	}
}
