package dispatcher

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/store"
)

// subscribeErr calls SubscribeLogs and returns the error that ends it.
func subscribeErr(t *testing.T, ctx context.Context, c *Client, req *SubscribeLogsRequest) error {
	t.Helper()
	stream, err := c.SubscribeLogs(ctx, req)
	if err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return err
		}
	}
}

func serviceLogs(follow bool) *SubscribeLogsRequest {
	return &SubscribeLogsRequest{Selector: LogSelector{ServiceID: "svc"}, Options: LogOptions{Stdout: true, Stderr: true, Follow: follow, Tail: -1}}
}

func TestSubscribeLogsRefusals(t *testing.T) {
	const leader = "192.0.2.1:2377"
	m := newTestManager(t, Config{}, true)
	follower := newTestManager(t, Config{LeaderAddr: func() string { return leader }}, false)
	tests := []struct {
		name     string
		m        *testManager
		role     ca.Role
		req      *SubscribeLogsRequest
		want     codes.Code
		wantHint string
	}{
		{name: "worker", m: m, role: ca.WorkerRole, req: serviceLogs(false), want: codes.PermissionDenied},
		{name: "follower", m: follower, role: ca.ManagerRole, req: serviceLogs(false), want: codes.Unavailable, wantHint: leader},
		{name: "no selector", m: m, role: ca.ManagerRole, req: &SubscribeLogsRequest{}, want: codes.InvalidArgument},
		{name: "two selectors", m: m, role: ca.ManagerRole, req: &SubscribeLogsRequest{Selector: LogSelector{ServiceID: "svc", TaskIDs: []string{"t"}}}, want: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller := tt.m.addNode(t, tt.role)
			err := subscribeErr(t, t.Context(), tt.m.client(t, &caller), tt.req)
			if status.Code(err) != tt.want || LeaderHint(err) != tt.wantHint {
				t.Errorf("got %v (hint %q), want %v (hint %q)", err, LeaderHint(err), tt.want, tt.wantHint)
			}
		})
	}
}

// A followed subscription on a leader that stops leading ends, naming the
// new leader.
func TestSubscribeLogsEndsWithLeadership(t *testing.T) {
	const leader = "192.0.2.1:2377"
	m := newTestManager(t, Config{LeaderAddr: func() string { return leader }}, true)
	caller := m.addNode(t, ca.ManagerRole)
	errc := make(chan error, 1)
	go func() { errc <- subscribeErr(t, t.Context(), m.client(t, &caller), serviceLogs(true)) }()
	waitFor(t, "the subscription to start", func() bool {
		m.d.mu.Lock()
		defer m.d.mu.Unlock()
		return len(m.d.logSubs) == 1
	})
	m.stopLeading()
	select {
	case err := <-errc:
		if status.Code(err) != codes.Unavailable || LeaderHint(err) != leader {
			t.Errorf("got %v (hint %q), want Unavailable with hint %q", err, LeaderHint(err), leader)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription outlived the leadership")
	}
}

// The broker at the protocol level: the node that runs a task gets the
// subscription; what it publishes comes stamped with its ID from its
// certificate; what another node publishes for that task is dropped.
func TestPublishLogs(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	owner, other, caller := m.addNode(t, ca.WorkerRole), m.addNode(t, ca.WorkerRole), m.addNode(t, ca.ManagerRole)
	ownerC, otherC := m.client(t, &owner), m.client(t, &other)
	ownerMsgs, _ := openSession(t, t.Context(), ownerC, nil)
	otherMsgs, _ := openSession(t, t.Context(), otherC, nil)
	ownerSession, otherSession := recv(t, ownerMsgs).SessionID, recv(t, otherMsgs).SessionID
	running := task("t1", owner.ID, swarm.TaskStateRunning, swarm.TaskStateRunning)
	running.ServiceID = "svc"
	notStarted := task("t2", other.ID, swarm.TaskStateAssigned, swarm.TaskStateRunning)
	notStarted.ServiceID = "svc"
	m.putTasks(t, running, notStarted)

	subs, err := ownerC.LogSubscriptions(t.Context(), &LogSubscriptionsRequest{SessionID: ownerSession})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := serviceLogs(false)
	req.Options.Tail = 5
	logs, err := m.client(t, &caller).SubscribeLogs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := subs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&LogSubscription{ID: sub.ID, TaskIDs: []string{"t1"}, Options: req.Options}, sub); diff != "" {
		t.Errorf("subscription (-want +got):\n%s", diff)
	}

	publish := func(c *Client, sessionID string, msgs ...LogMessage) {
		t.Helper()
		p, err := c.PublishLogs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Send(&PublishLogsMessage{SessionID: sessionID, SubscriptionID: sub.ID, Messages: msgs}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if err := p.CloseAndRecv(); err != nil {
			t.Fatalf("CloseAndRecv: %v", err)
		}
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	publish(otherC, otherSession, LogMessage{TaskID: "t1", NodeID: owner.ID, Stream: StreamStdout, Time: at, Line: []byte("forged\n")}, LogMessage{TaskID: "t1", End: true})
	publish(ownerC, ownerSession, LogMessage{TaskID: "t1", NodeID: "someone-else", Stream: StreamStderr, Time: at, Line: []byte("real\n")}, LogMessage{TaskID: "t1", End: true})

	var got []LogMessage
	for {
		b, err := logs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading logs: %v", err)
		}
		got = append(got, b.Messages...)
	}
	want := []LogMessage{
		{TaskID: "t1", NodeID: owner.ID, Stream: StreamStderr, Time: at, Line: []byte("real\n")},
		{TaskID: "t1", NodeID: owner.ID, End: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestResumeOptions(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last := since.Add(time.Minute)
	opts := LogOptions{Stdout: true, Follow: true, Tail: 10, Since: since}
	tests := []struct {
		name string
		last time.Time
		want LogOptions
	}{
		{name: "nothing received", want: opts},
		{name: "after the last line", last: last, want: LogOptions{Stdout: true, Follow: true, Tail: -1, Since: last.Add(time.Nanosecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resumeOptions(opts, tt.last); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHasLogs(t *testing.T) {
	tests := []struct {
		state swarm.TaskState
		node  string
		want  bool
	}{
		{state: swarm.TaskStatePending, want: false},
		{state: swarm.TaskStateAssigned, node: "n1", want: false},
		{state: swarm.TaskStateStarting, node: "n1", want: false},
		{state: swarm.TaskStateRunning, node: "n1", want: true},
		{state: swarm.TaskStateFailed, node: "n1", want: true},
		{state: swarm.TaskStateComplete, node: "n1", want: true},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			if got := hasLogs(task("t", tt.node, tt.state, swarm.TaskStateRunning)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConcernsLogs(t *testing.T) {
	svcTask := func(id, service string) store.Event {
		tk := task(id, "n1", swarm.TaskStateRunning, swarm.TaskStateRunning)
		tk.ServiceID = service
		return store.Event{Op: store.OpPut, Object: tk}
	}
	tests := []struct {
		name string
		sel  LogSelector
		evs  []store.Event
		want bool
	}{
		{name: "task of the service", sel: LogSelector{ServiceID: "svc"}, evs: []store.Event{svcTask("t1", "svc")}, want: true},
		{name: "task of another service", sel: LogSelector{ServiceID: "svc"}, evs: []store.Event{svcTask("t1", "other")}, want: false},
		{name: "selected task", sel: LogSelector{TaskIDs: []string{"t1"}}, evs: []store.Event{svcTask("t1", "other")}, want: true},
		{name: "node", sel: LogSelector{ServiceID: "svc"}, evs: []store.Event{{Op: store.OpPut, Object: node("n1", swarm.NodeStateReady)}}, want: false},
		{name: "snapshot", sel: LogSelector{ServiceID: "svc"}, evs: []store.Event{{Op: store.OpReset}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := concernsLogs(tt.evs, tt.sel); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
