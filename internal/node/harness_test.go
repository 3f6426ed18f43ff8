package node

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
	"github.com/shoal-project/shoal/internal/store"
)

// testNode is a real Node — cluster port on 127.0.0.1, raft, CA,
// dispatcher, agent — whose tasks run on the fake executor. It can be
// stopped and started again over the same state, like a daemon.
type testNode struct {
	t        *testing.T
	name     string
	dataRoot string
	addr     string
	exec     *fakeexec.Executor
	log      *slog.Logger
	// removedTasks counts the calls that would remove task containers.
	removedTasks atomic.Int32

	node   *Node
	cancel context.CancelFunc
	done   chan error
}

func newTestNode(t *testing.T, name string) *testNode {
	t.Helper()
	return newTestNodeExec(t, name, fakeexec.Config{})
}

// newTestNodeExec is newTestNode whose simulated containers follow cfg
// (its Hostname is the node's name).
func newTestNodeExec(t *testing.T, name string, cfg fakeexec.Config) *testNode {
	t.Helper()
	addr := freeAddr(t)
	cfg.Hostname = name
	tn := &testNode{t: t, name: name, dataRoot: t.TempDir(), addr: addr, exec: fakeexec.New(cfg),
		log: newTestLog(t).With("test.node", name)}
	tn.start()
	t.Cleanup(tn.stop)
	return tn
}

// freeAddr finds a port nothing listens on, below the kernel's ephemeral
// range (32768 up): the node listens there again after a restart, and the
// outgoing connections of the test must not take it meanwhile.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no free port found")
	return ""
}

// start runs the node's daemon side (Run) over its data root.
func (tn *testNode) start() {
	tn.t.Helper()
	n := New(Config{DataRoot: tn.dataRoot, Logger: tn.log})
	n.exec = tn.exec
	n.removeTasks = func(context.Context) error { tn.removedTasks.Add(1); return nil }
	n.hostAddrs = func() ([]netip.Addr, error) { return nil, nil }
	ctx, cancel := context.WithCancel(context.Background())
	tn.node, tn.cancel, tn.done = n, cancel, make(chan error, 1)
	go func() { tn.done <- n.Run(ctx) }()
	if err := n.waitStarted(tn.t.Context()); err != nil {
		tn.t.Fatal(err)
	}
}

// stop stops the daemon side; the node's state stays on disk.
func (tn *testNode) stop() {
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	if err := <-tn.done; err != nil {
		tn.t.Errorf("%s: Run: %v", tn.name, err)
	}
	tn.cancel = nil
}

func (tn *testNode) restart() {
	tn.t.Helper()
	tn.stop()
	tn.start()
}

// testSpec is a swarm spec with fast heartbeats: a stopped node is down
// in 1.5 s.
func testSpec() swarm.Spec {
	return swarm.Spec{Dispatcher: swarm.DispatcherConfig{HeartbeatPeriod: 500 * time.Millisecond}}
}

func (tn *testNode) init(spec swarm.Spec) string {
	tn.t.Helper()
	id, err := tn.node.Init(tn.t.Context(), swarm.InitRequest{ListenAddr: tn.addr, AdvertiseAddr: tn.addr, Spec: spec})
	if err != nil {
		tn.t.Fatalf("%s: init: %v", tn.name, err)
	}
	return id
}

func (tn *testNode) join(via *testNode, role swarm.NodeRole) string {
	tn.t.Helper()
	sw, err := via.api().InspectSwarm(tn.t.Context())
	if err != nil {
		tn.t.Fatal(err)
	}
	token := sw.JoinTokens.Worker
	if role == swarm.NodeRoleManager {
		token = sw.JoinTokens.Manager
	}
	err = tn.node.Join(tn.t.Context(), swarm.JoinRequest{ListenAddr: tn.addr, AdvertiseAddr: tn.addr, RemoteAddrs: []string{via.addr}, JoinToken: token})
	if err != nil {
		tn.t.Fatalf("%s: join: %v", tn.name, err)
	}
	return tn.id()
}

func (tn *testNode) id() string {
	mem, _, _, _ := tn.node.snapshot()
	if mem == nil {
		return ""
	}
	return mem.NodeID
}

// api is the node's control API; the test fails if it has none.
func (tn *testNode) api() *controlapi.API {
	tn.t.Helper()
	api, err := tn.node.Control()
	if err != nil {
		tn.t.Fatalf("%s: control API: %v", tn.name, err)
	}
	return api
}

// isLeader reports whether the node runs the raft leader.
func (tn *testNode) isLeader() bool {
	_, mgr, _, _ := tn.node.snapshot()
	return mgr != nil && mgr.raft.IsLeader()
}

// voters lists the raft voters the node's manager knows, sorted.
func (tn *testNode) voters() []string {
	_, mgr, _, _ := tn.node.snapshot()
	if mgr == nil {
		return nil
	}
	cf := mgr.raft.Raft().GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	var ids []string
	for _, s := range cf.Configuration().Servers {
		ids = append(ids, string(s.ID))
	}
	slices.Sort(ids)
	return ids
}

// storedNode reads a node object from tn's store (nil when tn runs no
// manager or has no such node).
func (tn *testNode) storedNode(id string) *store.Node {
	_, mgr, _, _ := tn.node.snapshot()
	if mgr == nil {
		return nil
	}
	var n *store.Node
	mgr.store.View(func(tx store.ReadTx) { n = store.Get[*store.Node](tx, id) })
	return n
}

func leaderOf(t *testing.T, nodes ...*testNode) *testNode {
	t.Helper()
	var leader *testNode
	eventually(t, 20*time.Second, func() string {
		for _, n := range nodes {
			if n.isLeader() {
				leader = n
				return ""
			}
		}
		return "no leader among the nodes"
	})
	return leader
}

// setRole changes a node's role through the leader's control API, as
// docker node promote/demote do: read, change, write, again when the
// node changed in between (its status moves on its own).
func setRole(t *testing.T, leader *testNode, id string, role swarm.NodeRole) error {
	t.Helper()
	for {
		n := leader.storedNode(id)
		if n == nil {
			t.Fatalf("node %s not in the leader's store", id)
		}
		spec := n.Spec
		spec.Role = role
		err := leader.api().UpdateNode(t.Context(), id, n.Version.Index, spec)
		if !errdefs.Is(err, errdefs.KindConflict) {
			return err
		}
	}
}

func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// managerStatusOf describes a node's ManagerStatus for messages.
func managerStatusOf(n *store.Node) string {
	if n == nil {
		return "(no node)"
	}
	if n.ManagerStatus == nil {
		return "(no manager status)"
	}
	return fmt.Sprintf("%+v", *n.ManagerStatus)
}

// testLog sends the nodes' logs to the test's log, shown when it fails,
// until the test ends.
type testLog struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func newTestLog(t *testing.T) *slog.Logger {
	w := &testLog{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}
