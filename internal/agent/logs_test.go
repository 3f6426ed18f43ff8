package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
	"github.com/shoal-project/shoal/internal/store"
)

// scriptedLogs is the LogSource of a node with simulated containers: a
// task's log is the lines the test writes for it, readable while its
// container exists, and followed until the container exits.
type scriptedLogs struct {
	exec *fakeexec.Executor

	mu      sync.Mutex
	lines   map[string][]scriptedLine // by task ID; guarded by mu
	changed chan struct{}             // closed and replaced on each write; guarded by mu
	reading int                       // Logs calls in progress; guarded by mu
	written int                       // lines written so far, to time them; guarded by mu
	stalled map[string]bool           // tasks whose reading never ends; guarded by mu
	broken  map[string]error          // tasks whose log cannot be read; guarded by mu
}

type scriptedLine struct {
	stream int
	ts     time.Time
	text   string
}

func newScriptedLogs(exec *fakeexec.Executor) *scriptedLogs {
	return &scriptedLogs{exec: exec, lines: map[string][]scriptedLine{}, changed: make(chan struct{}), stalled: map[string]bool{}, broken: map[string]error{}}
}

// breakLog makes reading a task's log fail with err.
func (l *scriptedLogs) breakLog(taskID string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broken[taskID] = err
}

// stall makes reading a task's log hang until the reader gives up.
func (l *scriptedLogs) stall(taskID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stalled[taskID] = true
}

// write adds a line to a task's log. Lines are a millisecond apart from
// epoch, so that each has a time of its own.
func (l *scriptedLogs) write(taskID string, stream int, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written++
	l.lines[taskID] = append(l.lines[taskID], scriptedLine{stream: stream, ts: epoch.Add(time.Duration(l.written) * time.Millisecond), text: text})
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *scriptedLogs) readers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reading
}

func (l *scriptedLogs) snapshot(taskID string) ([]scriptedLine, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines[taskID], l.changed
}

// Logs implements LogSource.
func (l *scriptedLogs) Logs(ctx context.Context, taskID string, opts dispatcher.LogOptions, out func(stream int, ts time.Time, line []byte) error) error {
	if _, ok := l.exec.Container(taskID); !ok {
		return errdefs.NotFound("no container for task %s", taskID)
	}
	l.mu.Lock()
	l.reading++
	stalled, broken := l.stalled[taskID], l.broken[taskID]
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.reading--
		l.mu.Unlock()
	}()
	if stalled {
		<-ctx.Done()
		return ctx.Err()
	}
	if broken != nil {
		return broken
	}
	emit := func(lines []scriptedLine) error {
		for _, ln := range lines {
			if err := out(ln.stream, ln.ts, []byte(ln.text)); err != nil {
				return err
			}
		}
		return nil
	}
	lines, changed := l.snapshot(taskID)
	if err := emit(pickLines(lines, opts)); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	// Follow until the container exits.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctlr, err := l.exec.Controller(&swarm.Task{ID: taskID}, nil)
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		ctlr.Wait(wctx)
	}()
	for sent := len(lines); ; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
		case <-changed:
		}
		lines, changed = l.snapshot(taskID)
		opts.Tail = -1
		if err := emit(pickLines(lines[sent:], opts)); err != nil {
			return err
		}
		sent = len(lines)
		select {
		case <-exited:
			return nil
		default:
		}
	}
}

// pickLines applies docker logs' options to a log.
func pickLines(lines []scriptedLine, opts dispatcher.LogOptions) []scriptedLine {
	var out []scriptedLine
	for _, ln := range lines {
		wanted := (ln.stream == dispatcher.StreamStdout && opts.Stdout) || (ln.stream == dispatcher.StreamStderr && opts.Stderr)
		if wanted && !ln.ts.Before(opts.Since) {
			out = append(out, ln)
		}
	}
	if opts.Tail >= 0 && len(out) > opts.Tail {
		out = out[len(out)-opts.Tail:]
	}
	return out
}

// subscribeLogs calls SubscribeLogs on a manager as another manager does.
func (c *testCluster) subscribeLogs(t *testing.T, ctx context.Context, m *testManager, req *dispatcher.SubscribeLogsRequest) *dispatcher.LogStream {
	t.Helper()
	caller := clusterconntest.NewNode(t, c.root, ca.ManagerRole)
	stream, err := dispatcher.NewClient(clusterconntest.Dial(t, c.root, m.addr, &caller)).SubscribeLogs(ctx, req)
	if err != nil {
		t.Fatalf("SubscribeLogs: %v", err)
	}
	return stream
}

// gotLine is a line as a test compares it.
type gotLine struct {
	Task, Node string
	Stream     int
	Text       string
}

// readAll reads a stream to its end: the lines by task, and the tasks whose
// End came (with its error text).
func readAll(t *testing.T, s *dispatcher.LogStream) (map[string][]gotLine, map[string]string) {
	t.Helper()
	lines, ends := map[string][]gotLine{}, map[string]string{}
	for {
		b, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return lines, ends
		}
		if err != nil {
			t.Fatalf("reading logs: %v", err)
		}
		for _, m := range b.Messages {
			if _, ended := ends[m.TaskID]; ended {
				t.Errorf("task %s got %+v after its end", m.TaskID, m)
			}
			if m.End {
				ends[m.TaskID] = m.Err
				continue
			}
			lines[m.TaskID] = append(lines[m.TaskID], gotLine{m.TaskID, m.NodeID, m.Stream, string(m.Line)})
		}
	}
}

func allStreams(tail int) dispatcher.LogOptions {
	return dispatcher.LogOptions{Stdout: true, Stderr: true, Tail: tail}
}

// Logs of a service's tasks on three nodes all arrive through the leader,
// each line with its task and node, in order per task, with the options
// applied where the logs are read.
func TestLogsFromEveryNode(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	var nodes []*testNode
	for i := range 3 {
		n := c.addNode(t, nil)
		c.startAgent(t, n, m.addr)
		c.assign(t, n.id, fmt.Sprintf("t%d", i))
		nodes = append(nodes, n)
	}
	c.eventually(t, "tasks to run", c.inState(swarm.TaskStateRunning, "t0", "t1", "t2"))
	for i, n := range nodes {
		id := fmt.Sprintf("t%d", i)
		n.logs.write(id, dispatcher.StreamStdout, fmt.Sprintf("hello %d\n", i))
		n.logs.write(id, dispatcher.StreamStderr, fmt.Sprintf("oops %d\n", i))
		n.logs.write(id, dispatcher.StreamStdout, fmt.Sprintf("bye %d\n", i))
	}
	// A task that ran on the first node once and whose container is gone:
	// there is nothing to read, and that is no error.
	c.update(t, func(tx *store.WriteTx) error {
		return tx.Put(&store.Task{Task: swarm.Task{
			ID: "old", ServiceID: "svc", NodeID: nodes[0].id, DesiredState: swarm.TaskStateShutdown,
			Spec:   swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:old"}},
			Status: swarm.TaskStatus{State: swarm.TaskStateComplete, Timestamp: epoch},
		}})
	})

	line := func(i, stream int, word string) gotLine {
		id := fmt.Sprintf("t%d", i)
		return gotLine{id, nodes[i].id, stream, fmt.Sprintf("%s %d\n", word, i)}
	}
	all := func(words ...string) func(i int) []gotLine {
		return func(i int) []gotLine {
			var out []gotLine
			for _, w := range words {
				stream := dispatcher.StreamStdout
				if w == "oops" {
					stream = dispatcher.StreamStderr
				}
				out = append(out, line(i, stream, w))
			}
			return out
		}
	}
	service := dispatcher.LogSelector{ServiceID: "svc"}
	tests := []struct {
		name  string
		sel   dispatcher.LogSelector
		opts  dispatcher.LogOptions
		tasks []int // the tasks whose lines come
		want  func(i int) []gotLine
	}{
		{name: "all", sel: service, opts: allStreams(-1), tasks: []int{0, 1, 2}, want: all("hello", "oops", "bye")},
		{name: "stdout", sel: service, opts: dispatcher.LogOptions{Stdout: true, Tail: -1}, tasks: []int{0, 1, 2}, want: all("hello", "bye")},
		{name: "stderr", sel: service, opts: dispatcher.LogOptions{Stderr: true, Tail: -1}, tasks: []int{0, 1, 2}, want: all("oops")},
		{name: "tail", sel: service, opts: allStreams(2), tasks: []int{0, 1, 2}, want: all("oops", "bye")},
		{name: "tail 0", sel: service, opts: allStreams(0), tasks: nil, want: all()},
		{name: "task", sel: dispatcher.LogSelector{TaskIDs: []string{"t1"}}, opts: allStreams(-1), tasks: []int{1}, want: all("hello", "oops", "bye")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			lines, ends := readAll(t, c.subscribeLogs(t, ctx, m, &dispatcher.SubscribeLogsRequest{Selector: tt.sel, Options: tt.opts}))
			want := map[string][]gotLine{}
			for _, i := range tt.tasks {
				want[fmt.Sprintf("t%d", i)] = tt.want(i)
			}
			if diff := cmp.Diff(want, lines); diff != "" {
				t.Errorf("lines by task (-want +got):\n%s", diff)
			}
			wantEnds := map[string]string{"t0": "", "t1": "", "t2": "", "old": ""}
			if tt.sel.ServiceID == "" {
				wantEnds = map[string]string{"t1": ""}
			}
			if diff := cmp.Diff(wantEnds, ends); diff != "" {
				t.Errorf("ended tasks and their errors (-want +got):\n%s", diff)
			}
		})
	}
}

// recvLine waits for the next line of a followed stream.
func recvLine(t *testing.T, lines <-chan gotLine) gotLine {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the log stream ended, want a line")
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10 s")
	}
	return gotLine{}
}

// Following a service's logs picks up a task started later, goes on after
// a node reconnects without repeating lines, and ends when the subscriber
// goes away, stopping the nodes' readers.
func TestLogsFollow(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	a, b := c.addNode(t, nil), c.addNode(t, nil)
	c.startAgent(t, a, m.addr)
	c.startAgent(t, b, m.addr)
	c.assign(t, a.id, "first")
	c.eventually(t, "the first task to run", c.inState(swarm.TaskStateRunning, "first"))
	a.logs.write("first", dispatcher.StreamStdout, "one\n")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opts := allStreams(-1)
	opts.Follow = true
	stream := c.subscribeLogs(t, ctx, m, &dispatcher.SubscribeLogsRequest{Selector: dispatcher.LogSelector{ServiceID: "svc"}, Options: opts})
	lines := make(chan gotLine)
	ended := make(chan error, 1)
	go func() {
		defer close(lines)
		for {
			batch, err := stream.Recv()
			if err != nil {
				ended <- err
				return
			}
			for _, m := range batch.Messages {
				if m.End {
					continue
				}
				select {
				case lines <- gotLine{m.TaskID, m.NodeID, m.Stream, string(m.Line)}:
				case <-ctx.Done():
				}
			}
		}
	}()
	want := func(task, node, text string) {
		t.Helper()
		if got, want := recvLine(t, lines), (gotLine{task, node, dispatcher.StreamStdout, text}); got != want {
			t.Errorf("got line %+v, want %+v", got, want)
		}
	}
	want("first", a.id, "one\n")

	c.assign(t, b.id, "later")
	c.eventually(t, "the later task to run", c.inState(swarm.TaskStateRunning, "later"))
	b.logs.write("later", dispatcher.StreamStdout, "hello from later\n")
	want("later", b.id, "hello from later\n")
	a.logs.write("first", dispatcher.StreamStdout, "two\n")
	want("first", a.id, "two\n")

	// The first node's agent restarts: what its task wrote meanwhile comes,
	// and nothing twice.
	a.stop()
	a.logs.write("first", dispatcher.StreamStdout, "while away\n")
	c.startAgent(t, a, m.addr)
	want("first", a.id, "while away\n")
	a.logs.write("first", dispatcher.StreamStdout, "back\n")
	want("first", a.id, "back\n")

	cancel()
	if err := <-ended; status.Code(err) != codes.Canceled {
		t.Errorf("the stream ended with %v, want it canceled", err)
	}
	c.eventually(t, "the nodes to stop reading", func() bool { return a.logs.readers() == 0 && b.logs.readers() == 0 })
}

// A task on a node that is down does not hold up logs without follow: it
// is skipped, without an error, as Docker does.
func TestLogsSkipNodeDown(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	up, down := c.addNode(t, nil), c.addNode(t, nil)
	c.startAgent(t, up, m.addr)
	c.startAgent(t, down, m.addr)
	c.assign(t, up.id, "up")
	c.assign(t, down.id, "down")
	c.eventually(t, "tasks to run", c.inState(swarm.TaskStateRunning, "up", "down"))
	up.logs.write("up", dispatcher.StreamStdout, "still here\n")
	down.logs.write("down", dispatcher.StreamStdout, "gone\n")
	down.stop()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	lines, _ := readAll(t, c.subscribeLogs(t, ctx, m, &dispatcher.SubscribeLogsRequest{Selector: dispatcher.LogSelector{ServiceID: "svc"}, Options: allStreams(-1)}))
	want := map[string][]gotLine{"up": {{"up", up.id, dispatcher.StreamStdout, "still here\n"}}}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("lines by task (-want +got):\n%s", diff)
	}
}

// A node that goes away while it reads does not hold up logs without
// follow either: its tasks end with its session, marked incomplete.
func TestLogsNodeLostWhileReading(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	up, lost := c.addNode(t, nil), c.addNode(t, nil)
	c.startAgent(t, up, m.addr)
	c.startAgent(t, lost, m.addr)
	c.assign(t, up.id, "up")
	c.assign(t, lost.id, "stuck")
	c.eventually(t, "tasks to run", c.inState(swarm.TaskStateRunning, "up", "stuck"))
	up.logs.write("up", dispatcher.StreamStdout, "fine\n")
	lost.logs.stall("stuck")

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream := c.subscribeLogs(t, ctx, m, &dispatcher.SubscribeLogsRequest{Selector: dispatcher.LogSelector{ServiceID: "svc"}, Options: allStreams(-1)})
	c.eventually(t, "the node to start reading", func() bool { return lost.logs.readers() == 1 })
	lost.stop()
	lines, ends := readAll(t, stream)
	want := map[string][]gotLine{"up": {{"up", up.id, dispatcher.StreamStdout, "fine\n"}}}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("lines by task (-want +got):\n%s", diff)
	}
	if msg := ends["stuck"]; !strings.Contains(msg, "incomplete log stream") {
		t.Errorf("the lost node's task ended with %q, want it marked incomplete", msg)
	}
}

// ReadLogs, as a manager's Docker API calls it, asked of a follower: it
// reads through the leader, writes every line that could be read, and
// names the task whose log could not be.
func TestReadLogsThroughFollower(t *testing.T) {
	c := newTestCluster(t)
	leader := c.startManager(t, dispatcher.Config{}, true)
	follower := c.startManager(t, dispatcher.Config{LeaderAddr: func() string { return leader.addr }}, false)
	n := c.addNode(t, nil)
	c.startAgent(t, n, leader.addr)
	c.assign(t, n.id, "fine", "broken")
	c.eventually(t, "tasks to run", c.inState(swarm.TaskStateRunning, "fine", "broken"))
	n.logs.write("fine", dispatcher.StreamStdout, "a\n")
	n.logs.write("fine", dispatcher.StreamStderr, "b\n")
	n.logs.breakLog("broken", errors.New("log file unreadable"))

	caller := clusterconntest.NewNode(t, c.root, ca.ManagerRole)
	conf := clusterconn.ClientTLS(c.root.Trust(), &caller.Cert, clusterconn.ProtoGRPC)
	dial := func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
		return clusterconn.DialGRPC(ctx, addr, func() *tls.Config { return conf })
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []gotLine
	err := dispatcher.ReadLogs(ctx, dial, follower.addr, &dispatcher.SubscribeLogsRequest{Selector: dispatcher.LogSelector{ServiceID: "svc"}, Options: allStreams(-1)},
		func(m dispatcher.LogMessage) error {
			got = append(got, gotLine{m.TaskID, m.NodeID, m.Stream, string(m.Line)})
			return nil
		})
	want := []gotLine{{"fine", n.id, dispatcher.StreamStdout, "a\n"}, {"fine", n.id, dispatcher.StreamStderr, "b\n"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if err == nil || !strings.Contains(err.Error(), "task broken on node "+n.id) || !strings.Contains(err.Error(), "log file unreadable") {
		t.Errorf("got error %v, want one naming task broken and why", err)
	}
}
