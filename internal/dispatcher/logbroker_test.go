package dispatcher

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
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

// Without follow, a node that holds a task but does not answer (cut off,
// its session still open) or whose session ends is given up on: the
// others' lines come through, and the call ends with that node's task
// named as incomplete, long before the node's heartbeats run out.
func TestSubscribeLogsGivesUpOnANode(t *testing.T) {
	tests := []struct {
		name string
		// silent: the node keeps its session but sends nothing; otherwise
		// its session ends.
		silent  bool
		wantWhy string
	}{
		{name: "silent", silent: true, wantWhy: "the node sent nothing for " + logSilence.String()},
		{name: "session ends", wantWhy: "the node's session ended before its logs did"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeexec.NewManualClock(epoch)
			m := newTestManager(t, Config{Clock: clock}, true)
			live, away, caller := m.addNode(t, ca.WorkerRole), m.addNode(t, ca.WorkerRole), m.addNode(t, ca.ManagerRole)
			liveC, awayC := m.client(t, &live), m.client(t, &away)
			liveMsgs, _ := openSession(t, t.Context(), liveC, nil)
			awayCtx, endAwaySession := context.WithCancel(t.Context())
			defer endAwaySession()
			awayMsgs, _ := openSession(t, awayCtx, awayC, nil)
			liveSession, awaySession := recv(t, liveMsgs).SessionID, recv(t, awayMsgs).SessionID
			t1 := task("t1", live.ID, swarm.TaskStateRunning, swarm.TaskStateRunning)
			t2 := task("t2", away.ID, swarm.TaskStateRunning, swarm.TaskStateRunning)
			t1.ServiceID, t2.ServiceID = "svc", "svc"
			m.putTasks(t, t1, t2)
			liveSubs, err := liveC.LogSubscriptions(t.Context(), &LogSubscriptionsRequest{SessionID: liveSession})
			if err != nil {
				t.Fatal(err)
			}
			awaySubs, err := awayC.LogSubscriptions(awayCtx, &LogSubscriptionsRequest{SessionID: awaySession})
			if err != nil {
				t.Fatal(err)
			}

			at := epoch.Add(-time.Minute)
			cc := clusterconntest.Dial(t, m.root, m.addr, &caller)
			written := make(chan LogMessage, 4)
			readErr := make(chan error, 1)
			go func() {
				readErr <- ReadLogs(t.Context(), func(context.Context, string) (*grpc.ClientConn, error) { return cc, nil }, m.addr, serviceLogs(false),
					func(msg LogMessage) error { written <- msg; return nil })
			}()

			// The live node answers at once; the other only takes its
			// subscription.
			sub, err := liveSubs.Recv()
			if err != nil {
				t.Fatal(err)
			}
			p, err := liveC.PublishLogs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Send(&PublishLogsMessage{SessionID: liveSession, SubscriptionID: sub.ID, Messages: []LogMessage{
				{TaskID: "t1", Stream: StreamStdout, Time: at, Line: []byte("from the live node\n")}, {TaskID: "t1", End: true},
			}}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if err := p.CloseAndRecv(); err != nil {
				t.Fatalf("CloseAndRecv: %v", err)
			}
			if got, err := awaySubs.Recv(); err != nil || !slices.Equal(got.TaskIDs, []string{"t2"}) {
				t.Fatalf("the other node got subscription %+v, %v; want one for t2", got, err)
			}
			select {
			case got := <-written:
				want := LogMessage{TaskID: "t1", NodeID: live.ID, Stream: StreamStdout, Time: at, Line: []byte("from the live node\n")}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("line written (-want +got):\n%s", diff)
				}
			case err := <-readErr:
				t.Fatalf("ReadLogs ended with %v before the live node's line", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the live node's line was not written")
			}

			if tt.silent {
				clock.Advance(logSilence)
			} else {
				endAwaySession()
			}
			select {
			case err := <-readErr:
				want := "task t2 on node " + away.ID + ": incomplete log stream: " + tt.wantWhy
				if err == nil || err.Error() != want {
					t.Errorf("ReadLogs got %v, want %q", err, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the logs did not end without the node that went away")
			}
			for len(written) > 0 {
				t.Errorf("also written: %+v", <-written)
			}
			if tt.silent {
				if got := m.node(away.ID).Status.State; got != swarm.NodeStateReady {
					t.Errorf("silent node got state %s, want ready: its heartbeats have not run out yet", got)
				}
				if got, err := awaySubs.Recv(); err != nil || !got.Close || got.ID != sub.ID {
					t.Errorf("the silent node then got %+v, %v; want Close of %s", got, err, sub.ID)
				}
			}
		})
	}
}

func TestSilent(t *testing.T) {
	const limit = 5 * time.Second
	now := epoch.Add(time.Minute)
	tests := []struct {
		name     string
		heard    map[string]time.Time
		want     []string
		wantNext time.Time
	}{
		{name: "none waiting"},
		{name: "heard recently", heard: map[string]time.Time{"a": now.Add(-time.Second), "b": now.Add(-3 * time.Second)}, wantNext: now.Add(2 * time.Second)},
		{name: "silent exactly the limit", heard: map[string]time.Time{"a": now.Add(-limit)}, want: []string{"a"}},
		{
			name:     "some silent",
			heard:    map[string]time.Time{"c": now.Add(-time.Hour), "a": now.Add(-limit - time.Millisecond), "b": now},
			want:     []string{"a", "c"},
			wantNext: now.Add(limit),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waiting := map[string]*waitingNode{}
			for id, heard := range tt.heard {
				waiting[id] = &waitingNode{s: &session{id: id}, pending: 1, heard: heard}
			}
			got, next := silent(waiting, now, limit)
			if !slices.Equal(got, tt.want) || !next.Equal(tt.wantNext) {
				t.Errorf("got %v, next %v; want %v, next %v", got, next, tt.want, tt.wantNext)
			}
		})
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
