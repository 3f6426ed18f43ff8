package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// An in-process cluster: one store replicated by a single-member raft,
// dispatchers on real cluster ports with real certificates, and agents on
// simulated containers. Agents and containers run on a manual clock that
// the tests move while they wait for a condition.

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// counter counts the store updates that reach raft.
type counter struct {
	p store.Proposer
	n atomic.Int64
}

func (c *counter) Propose(ctx context.Context, data []byte) error {
	c.n.Add(1)
	return c.p.Propose(ctx, data)
}

type testCluster struct {
	root      *ca.RootCA
	st        *store.Store
	proposals *counter
	clock     *fakeexec.ManualClock
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	st, raftNode := consensustest.NewNode(t)
	proposals := &counter{p: raftNode}
	st.SetProposer(proposals)
	return &testCluster{root: clusterconntest.NewRoot(t), st: st, proposals: proposals, clock: fakeexec.NewManualClock(epoch)}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// testManager is a dispatcher serving on its own cluster port.
type testManager struct {
	addr string
	stop func() // stops serving; the port refuses from then on
}

// startManager serves a dispatcher over the cluster's store, leading or
// not. The dispatcher keeps the wall clock: the agents' manual clock runs
// faster, so heartbeats always arrive in time.
func (c *testCluster) startManager(t *testing.T, cfg dispatcher.Config, leads bool) *testManager {
	t.Helper()
	mux := clusterconntest.Listen(t, c.root, clusterconntest.NewNode(t, c.root, ca.ManagerRole))
	cfg.Store = c.st
	cfg.Logger = testLogger(t)
	d := dispatcher.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if leads {
			d.RunLeader(ctx)
		}
	}()
	srv := clusterconn.NewGRPCServer(dispatcher.Policy())
	d.Register(srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(mux.GRPC())
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Stop()
			mux.Close()
			<-served
			cancel()
			<-ran
		})
	}
	t.Cleanup(stop)
	return &testManager{addr: mux.Addr().String(), stop: stop}
}

// testNode is a node with simulated containers and, while started, an
// agent.
type testNode struct {
	id    string
	cert  tls.Certificate
	exec  *fakeexec.Executor
	logs  *scriptedLogs // what the containers write
	agent *Agent
	stop  func() // stops the agent, leaving its containers

	ended   <-chan struct{} // closed when the agent's Run returns
	runErr  error           // what Run returned, once ended is closed
	mayFail bool            // the test expects Run to fail
}

// addNode makes a node's certificate and object, as joining does.
func (c *testCluster) addNode(t *testing.T, script func(*swarm.Task) fakeexec.Script) *testNode {
	t.Helper()
	cert := clusterconntest.NewNode(t, c.root, ca.WorkerRole)
	c.update(t, func(tx *store.WriteTx) error {
		return tx.Put(&store.Node{Node: swarm.Node{
			ID:     cert.ID,
			Spec:   swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
			Status: swarm.NodeStatus{State: swarm.NodeStateUnknown},
		}})
	})
	exec := fakeexec.New(fakeexec.Config{Clock: c.clock, Hostname: "node-" + cert.ID[:6], Script: script})
	return &testNode{
		id:   cert.ID,
		cert: cert.Cert,
		exec: exec,
		logs: newScriptedLogs(exec),
	}
}

// startAgent runs an agent for n that knows managers, until stopped.
func (c *testCluster) startAgent(t *testing.T, n *testNode, managers ...string) {
	t.Helper()
	conf := clusterconn.ClientTLS(c.root.Trust(), &n.cert, clusterconn.ProtoGRPC)
	n.agent = New(Config{
		Executor: n.exec,
		Logs:     n.logs,
		Dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return clusterconn.DialGRPC(ctx, addr, func() *tls.Config { return conf })
		},
		Managers: func() []string { return managers },
		Clock:    c.clock,
		Logger:   testLogger(t).With("node.id", n.id),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.runErr = n.agent.Run(ctx)
	}()
	n.ended = done
	n.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(func() {
		n.stop()
		if n.runErr != nil && !n.mayFail {
			t.Errorf("agent Run: %v", n.runErr)
		}
	})
}

func (c *testCluster) update(t *testing.T, fn func(tx *store.WriteTx) error) {
	t.Helper()
	if err := c.st.Update(t.Context(), fn); err != nil {
		t.Fatalf("store update: %v", err)
	}
}

// assign creates tasks on a node, as the scheduler leaves them.
func (c *testCluster) assign(t *testing.T, nodeID string, ids ...string) {
	t.Helper()
	c.update(t, func(tx *store.WriteTx) error {
		for _, id := range ids {
			task := &store.Task{Task: swarm.Task{
				ID:           id,
				ServiceID:    "svc",
				NodeID:       nodeID,
				DesiredState: swarm.TaskStateRunning,
				Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:" + id}},
				Status:       swarm.TaskStatus{State: swarm.TaskStateAssigned, Message: "scheduler assigned task to node", Timestamp: epoch},
			}}
			if err := tx.Put(task); err != nil {
				return err
			}
		}
		return nil
	})
}

// setDesired changes the desired state of tasks.
func (c *testCluster) setDesired(t *testing.T, state swarm.TaskState, ids ...string) {
	t.Helper()
	c.update(t, func(tx *store.WriteTx) error {
		for _, id := range ids {
			task := *store.Get[*store.Task](tx.ReadTx, id)
			task.DesiredState = state
			if err := tx.Put(&task); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *testCluster) task(id string) *store.Task {
	var t *store.Task
	c.st.View(func(tx store.ReadTx) { t = store.Get[*store.Task](tx, id) })
	return t
}

func (c *testCluster) nodeObject(id string) *store.Node {
	var n *store.Node
	c.st.View(func(tx store.ReadTx) { n = store.Get[*store.Node](tx, id) })
	return n
}

// inState reports whether every task is in state.
func (c *testCluster) inState(state swarm.TaskState, ids ...string) func() bool {
	return func() bool {
		for _, id := range ids {
			if t := c.task(id); t == nil || t.Status.State != state {
				return false
			}
		}
		return true
	}
}

// eventually moves the manual clock forward in small steps until cond
// holds, and fails the test if it does not within 20 s of real time.
func (c *testCluster) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		c.clock.Advance(20 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
	}
}

// stateLog records every status each task goes through in the store.
type stateLog struct {
	mu     sync.Mutex
	states map[string][]swarm.TaskState // guarded by mu
}

func (c *testCluster) recordStates(t *testing.T) *stateLog {
	t.Helper()
	l := &stateLog{states: map[string][]swarm.TaskState{}}
	sub := c.st.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			evs, err := sub.Next(ctx)
			if err != nil {
				return
			}
			l.mu.Lock()
			for _, ev := range evs {
				if task, ok := ev.Object.(*store.Task); ok && ev.Op == store.OpPut {
					s := l.states[task.ID]
					if len(s) == 0 || s[len(s)-1] != task.Status.State {
						l.states[task.ID] = append(s, task.Status.State)
					}
				}
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		sub.Close()
	})
	return l
}

// checkForward fails the test if a task's state ever moved backwards.
func (l *stateLog) checkForward(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, states := range l.states {
		for i := 1; i < len(states); i++ {
			if taskstate.Rank(states[i]) < taskstate.Rank(states[i-1]) {
				t.Errorf("task %s went backwards: %v", id, states)
				break
			}
		}
	}
}

func (l *stateLog) of(id string) []swarm.TaskState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]swarm.TaskState(nil), l.states[id]...)
}

func taskIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return ids
}
