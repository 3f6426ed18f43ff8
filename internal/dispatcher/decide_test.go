package dispatcher

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNextStatus(t *testing.T) {
	at := func(s swarm.TaskState) swarm.TaskStatus { return swarm.TaskStatus{State: s, Timestamp: epoch} }
	tests := []struct {
		name      string
		cur, rep  swarm.TaskStatus
		wantApply bool
	}{
		{name: "assigned to accepted", cur: at(swarm.TaskStateAssigned), rep: at(swarm.TaskStateAccepted), wantApply: true},
		{name: "skips states", cur: at(swarm.TaskStateAssigned), rep: at(swarm.TaskStateRunning), wantApply: true},
		{name: "running to failed", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateFailed), wantApply: true},
		{name: "stale starting after running", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateStarting)},
		{name: "same state again", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateRunning)},
		{name: "complete is final", cur: at(swarm.TaskStateComplete), rep: at(swarm.TaskStateFailed)},
		{name: "failed is final", cur: at(swarm.TaskStateFailed), rep: at(swarm.TaskStateRejected)},
		{name: "orphaned is final", cur: at(swarm.TaskStateOrphaned), rep: at(swarm.TaskStateShutdown)},
		{name: "agent cannot set remove", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateRemove)},
		{name: "agent cannot set orphaned", cur: at(swarm.TaskStateRunning), rep: at(swarm.TaskStateOrphaned)},
		{name: "agent cannot set pending", cur: at(swarm.TaskStateNew), rep: at(swarm.TaskStatePending)},
		{name: "unknown state", cur: at(swarm.TaskStateAssigned), rep: at("bogus")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := nextStatus(tt.cur, tt.rep, epoch.Add(time.Hour))
			if ok != tt.wantApply {
				t.Fatalf("got apply %v, want %v", ok, tt.wantApply)
			}
			want := tt.cur
			if ok {
				want = tt.rep
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNextStatusStampsMissingTime(t *testing.T) {
	now := epoch.Add(time.Minute)
	got, ok := nextStatus(swarm.TaskStatus{State: swarm.TaskStateAssigned}, swarm.TaskStatus{State: swarm.TaskStateAccepted}, now)
	if !ok || !got.Timestamp.Equal(now) {
		t.Errorf("got %+v (applied %v), want accepted at %v", got, ok, now)
	}
}

func node(id string, state swarm.NodeState) *store.Node {
	return &store.Node{Node: swarm.Node{ID: id, Status: swarm.NodeStatus{State: state}}}
}

func TestExpired(t *testing.T) {
	const period = 5 * time.Second
	const timeout = period * HeartbeatGrace
	since := epoch
	tests := []struct {
		name     string
		nodes    []*store.Node
		lastSeen map[string]time.Time
		told     map[string]time.Duration
		period   time.Duration // the cluster's now; period when zero
		now      time.Time
		wantDown []string
		wantNext time.Time
	}{
		{
			name:     "heartbeat in time",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(10 * time.Second)},
			now:      epoch.Add(20 * time.Second),
			wantNext: epoch.Add(25 * time.Second),
		},
		{
			name:     "heartbeat missed",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady), node("b", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(5 * time.Second), "b": epoch.Add(12 * time.Second)},
			now:      epoch.Add(20 * time.Second),
			wantDown: []string{"a"},
			wantNext: epoch.Add(27 * time.Second),
		},
		{
			name:     "expires exactly at the deadline",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(5 * time.Second)},
			now:      epoch.Add(20 * time.Second),
			wantDown: []string{"a"},
		},
		{
			name:     "never seen by this leader: counted from when it began leading",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			now:      epoch.Add(10 * time.Second),
			wantNext: epoch.Add(timeout),
		},
		{
			name:     "never seen by this leader, grace over",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(-time.Hour)},
			now:      epoch.Add(timeout),
			wantDown: []string{"a"},
		},
		{
			name:     "period shortened: a node still on the old one keeps its grace",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(10 * time.Second)},
			told:     map[string]time.Duration{"a": period},
			period:   time.Second,
			now:      epoch.Add(20 * time.Second),
			wantNext: epoch.Add(25 * time.Second),
		},
		{
			name:     "period shortened: a node told the new one gets its short grace",
			nodes:    []*store.Node{node("a", swarm.NodeStateReady)},
			lastSeen: map[string]time.Time{"a": epoch.Add(10 * time.Second)},
			told:     map[string]time.Duration{"a": time.Second},
			period:   time.Second,
			now:      epoch.Add(14 * time.Second),
			wantDown: []string{"a"},
		},
		{
			name:  "nodes not ready are left alone",
			nodes: []*store.Node{node("a", swarm.NodeStateDown), node("b", swarm.NodeStateUnknown), node("c", swarm.NodeStateDisconnected)},
			now:   epoch.Add(time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.period
			if p == 0 {
				p = period
			}
			down, next := expired(tt.nodes, tt.lastSeen, tt.told, since, tt.now, p)
			if diff := cmp.Diff(tt.wantDown, down); diff != "" {
				t.Errorf("down (-want +got):\n%s", diff)
			}
			if !next.Equal(tt.wantNext) {
				t.Errorf("got next %v, want %v", next, tt.wantNext)
			}
		})
	}
}

func task(id, nodeID string, state, desired swarm.TaskState) *store.Task {
	return &store.Task{Task: swarm.Task{
		ID:           id,
		NodeID:       nodeID,
		DesiredState: desired,
		Status:       swarm.TaskStatus{State: state},
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
	}}
}

func TestSameForAgent(t *testing.T) {
	base := func() *SessionMessage {
		return &SessionMessage{
			Node:            node("n1", swarm.NodeStateReady),
			Managers:        []string{"10.0.0.1:2377"},
			HeartbeatPeriod: 5 * time.Second,
			Assignments:     AssignmentSet{Tasks: []*store.Task{task("t1", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)}},
		}
	}
	tests := []struct {
		name   string
		change func(m *SessionMessage)
		want   bool
	}{
		{name: "nothing changed", change: func(*SessionMessage) {}, want: true},
		{name: "the agent's own status report", change: func(m *SessionMessage) {
			c := *m.Assignments.Tasks[0]
			c.Status = swarm.TaskStatus{State: swarm.TaskStateRunning, Message: "started"}
			c.Version.Index = 9
			m.Assignments.Tasks[0] = &c
		}, want: true},
		{name: "desired state", change: func(m *SessionMessage) {
			c := *m.Assignments.Tasks[0]
			c.DesiredState = swarm.TaskStateShutdown
			m.Assignments.Tasks[0] = &c
		}},
		{name: "a new task", change: func(m *SessionMessage) {
			m.Assignments.Tasks = append(m.Assignments.Tasks, task("t2", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning))
		}},
		{name: "a task gone", change: func(m *SessionMessage) { m.Assignments.Tasks = nil }},
		{name: "node drained", change: func(m *SessionMessage) {
			c := *m.Node
			c.Spec.Availability = swarm.NodeAvailabilityDrain
			m.Node = &c
		}},
		{name: "node status only", change: func(m *SessionMessage) {
			c := *m.Node
			c.Status.Addr = "10.0.0.9"
			m.Node = &c
		}, want: true},
		{name: "managers", change: func(m *SessionMessage) { m.Managers = append(m.Managers, "10.0.0.2:2377") }},
		{name: "heartbeat period", change: func(m *SessionMessage) { m.HeartbeatPeriod = time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base(), base()
			tt.change(b)
			if got := sameForAgent(a, b); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConcernsSession(t *testing.T) {
	sent := &SessionMessage{
		Assignments: AssignmentSet{Tasks: []*store.Task{task("t1", "n1", swarm.TaskStateRunning, swarm.TaskStateRunning)}},
		managerIDs:  []string{"m1"},
	}
	worker := node("n2", swarm.NodeStateReady)
	manager := node("m2", swarm.NodeStateReady)
	manager.ManagerStatus = &swarm.ManagerStatus{Addr: "10.0.0.2:2377"}
	tests := []struct {
		name string
		ev   store.Event
		want bool
	}{
		{name: "own task", ev: store.Event{Op: store.OpPut, Object: task("t9", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)}, want: true},
		{name: "another node's task", ev: store.Event{Op: store.OpPut, Object: task("t9", "n2", swarm.TaskStateAssigned, swarm.TaskStateRunning)}},
		{name: "own task deleted", ev: store.Event{Op: store.OpDelete, Object: task("t1", "n1", swarm.TaskStateRunning, swarm.TaskStateRemove)}, want: true},
		{name: "own node", ev: store.Event{Op: store.OpPut, Object: node("n1", swarm.NodeStateReady)}, want: true},
		{name: "another worker", ev: store.Event{Op: store.OpPut, Object: worker}},
		{name: "a manager", ev: store.Event{Op: store.OpPut, Object: manager}, want: true},
		{name: "a manager demoted", ev: store.Event{Op: store.OpPut, Object: node("m1", swarm.NodeStateReady)}, want: true},
		{name: "cluster spec", ev: store.Event{Op: store.OpPut, Object: &store.Cluster{}}, want: true},
		{name: "snapshot restored", ev: store.Event{Op: store.OpReset}, want: true},
		{name: "a service", ev: store.Event{Op: store.OpPut, Object: &store.Service{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := concernsSession([]store.Event{tt.ev}, "n1", sent); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAssignmentStates(t *testing.T) {
	for s, want := range map[swarm.TaskState]bool{
		swarm.TaskStateNew:      false,
		swarm.TaskStatePending:  false,
		swarm.TaskStateAssigned: true,
		swarm.TaskStateRunning:  true,
		swarm.TaskStateFailed:   true, // its container stays until the task is deleted
	} {
		if got := inAssignments(s); got != want {
			t.Errorf("inAssignments(%s) got %v, want %v", s, got, want)
		}
	}
}
