package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/caserver"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/store"
)

// certRole is the role in the node's current certificate.
func certRole(t *testing.T, tn *testNode) ca.Role {
	t.Helper()
	k := tn.node.keys.Load()
	if k == nil {
		return ""
	}
	id, err := ca.IdentityFromCert(k.cert.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	return id.Role
}

// isManager checks every sign that tn became a full manager: a manager
// certificate, a control API, a raft voter that leader lists with a
// reachable ManagerStatus at its address, and the role remembered on disk.
func isManager(t *testing.T, leader, tn *testNode) string {
	t.Helper()
	id := tn.id()
	if _, err := tn.node.Control(); err != nil {
		return tn.name + " has no control API: " + err.Error()
	}
	if r := certRole(t, tn); r != ca.ManagerRole {
		return fmt.Sprintf("%s has a %s certificate", tn.name, r)
	}
	if !slices.Contains(leader.voters(), id) {
		return fmt.Sprintf("%s is no raft voter (voters %v)", tn.name, leader.voters())
	}
	n := leader.storedNode(id)
	if n == nil || n.ManagerStatus == nil || n.ManagerStatus.Addr != tn.addr || n.ManagerStatus.Reachability != swarm.ReachabilityReachable {
		return fmt.Sprintf("%s manager status %s, want reachable at %s", tn.name, managerStatusOf(n), tn.addr)
	}
	mem, err := loadMembership(tn.node.dir)
	if err != nil || mem.Role != "manager" {
		return fmt.Sprintf("%s remembers role %v (err %v)", tn.name, mem, err)
	}
	return ""
}

func isWorker(t *testing.T, leader, tn *testNode) string {
	t.Helper()
	id := tn.id()
	if _, err := tn.node.Control(); err == nil {
		return tn.name + " still serves the control API"
	}
	if r := certRole(t, tn); r != ca.WorkerRole {
		return fmt.Sprintf("%s has a %s certificate", tn.name, r)
	}
	if slices.Contains(leader.voters(), id) {
		return fmt.Sprintf("%s is still a raft voter (voters %v)", tn.name, leader.voters())
	}
	if n := leader.storedNode(id); n == nil || n.ManagerStatus != nil {
		return fmt.Sprintf("%s manager status %s, want none", tn.name, managerStatusOf(n))
	}
	mem, err := loadMembership(tn.node.dir)
	if err != nil || mem.Role != "worker" {
		return fmt.Sprintf("%s remembers role %v (err %v)", tn.name, mem, err)
	}
	return ""
}

func putService(t *testing.T, leader *testNode, id string) {
	t.Helper()
	_, mgr, _, _ := leader.node.snapshot()
	err := mgr.store.Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Service{Service: swarm.Service{ID: id, Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: id}}}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hasService(tn *testNode, id string) bool {
	_, mgr, _, _ := tn.node.snapshot()
	if mgr == nil {
		return false
	}
	var s *store.Service
	mgr.store.View(func(tx store.ReadTx) { s = store.Get[*store.Service](tx, id) })
	return s != nil
}

func TestPromoteAndDemote(t *testing.T) {
	m1, w1, w2 := newTestNode(t, "m1"), newTestNode(t, "w1"), newTestNode(t, "w2")
	m1.init(testSpec())
	w1.join(m1, swarm.NodeRoleWorker)
	w2.join(m1, swarm.NodeRoleWorker)
	putService(t, m1, "before-promotion")

	for _, w := range []*testNode{w1, w2} {
		if err := setRole(t, leaderOf(t, m1, w1, w2), w.id(), swarm.NodeRoleManager); err != nil {
			t.Fatalf("promote %s: %v", w.name, err)
		}
		eventually(t, 30*time.Second, func() string { return isManager(t, leaderOf(t, m1, w1, w2), w) })
	}
	if !hasService(w1, "before-promotion") {
		t.Fatal("the promoted manager did not receive the swarm's state")
	}

	// The leader itself is demoted: it hands leadership over, and ends a
	// worker that still runs its agent.
	if err := setRole(t, m1, m1.id(), swarm.NodeRoleWorker); err != nil {
		t.Fatalf("demote the leader: %v", err)
	}
	eventually(t, 30*time.Second, func() string { return isWorker(t, leaderOf(t, w1, w2), m1) })
	leader := leaderOf(t, w1, w2)
	if got := leader.voters(); len(got) != 2 {
		t.Fatalf("raft voters %v, want the two promoted nodes", got)
	}
	putService(t, leader, "after-demotion")
	eventually(t, 10*time.Second, func() string {
		if n := leader.storedNode(m1.id()); n == nil || n.Status.State != swarm.NodeStateReady {
			return "the demoted node's agent is not ready: " + fmt.Sprint(n)
		}
		return ""
	})

	// Two managers left: demoting one leaves the other alone, which is a
	// quorum of one; the last one cannot go.
	follower := w1
	if leader == w1 {
		follower = w2
	}
	if err := setRole(t, leader, follower.id(), swarm.NodeRoleWorker); err != nil {
		t.Fatalf("demote %s: %v", follower.name, err)
	}
	eventually(t, 30*time.Second, func() string { return isWorker(t, leader, follower) })
	err := setRole(t, leader, leader.id(), swarm.NodeRoleWorker)
	if !errdefs.Is(err, errdefs.KindPrecondition) || !strings.Contains(err.Error(), "attempting to demote the last manager of the swarm") {
		t.Fatalf("demote the last manager: got %v, want a refusal", err)
	}
}

func TestDemoteRefusedWhenItWouldLoseQuorum(t *testing.T) {
	m1, m2, m3 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNode(t, "m3")
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	m3.join(m1, swarm.NodeRoleManager)
	leader := leaderOf(t, m1, m2, m3)
	var down, other *testNode
	for _, n := range []*testNode{m1, m2, m3} {
		switch {
		case n == leader:
		case down == nil:
			down = n
		default:
			other = n
		}
	}
	down.stop()
	eventually(t, 20*time.Second, func() string {
		if n := leader.storedNode(down.id()); n.ManagerStatus.Reachability != swarm.ReachabilityUnreachable {
			return "the stopped manager is " + managerStatusOf(n)
		}
		return ""
	})
	err := setRole(t, leader, other.id(), swarm.NodeRoleWorker)
	if !errdefs.Is(err, errdefs.KindPrecondition) || !strings.Contains(err.Error(), "can't remove member from the raft: this would result in a loss of quorum") {
		t.Fatalf("demote a reachable manager with another one down: got %v, want a loss of quorum refusal", err)
	}
	// Demoting the unreachable one is fine: raft is left with two of two.
	if err := setRole(t, leader, down.id(), swarm.NodeRoleWorker); err != nil {
		t.Fatalf("demote the stopped manager: %v", err)
	}
	eventually(t, 20*time.Second, func() string {
		if v := leader.voters(); len(v) != 2 || slices.Contains(v, down.id()) {
			return fmt.Sprintf("raft voters %v, want the two running managers", v)
		}
		return ""
	})
	// When it comes back, it follows its node object and serves as a worker.
	down.start()
	eventually(t, 30*time.Second, func() string { return isWorker(t, leaderOf(t, m1, m2, m3), down) })
}

func TestRemovedNodeLeavesTheSwarm(t *testing.T) {
	m1, w1, w2 := newTestNode(t, "m1"), newTestNode(t, "w1"), newTestNode(t, "w2")
	m1.init(testSpec())
	w1ID := w1.join(m1, swarm.NodeRoleWorker)
	w2ID := w2.join(m1, swarm.NodeRoleWorker)
	eventually(t, 10*time.Second, func() string {
		if n := m1.storedNode(w1ID); n.Status.State != swarm.NodeStateReady {
			return "w1 is " + string(n.Status.State)
		}
		return ""
	})
	oldKeys := w1.node.keys.Load()

	err := m1.api().RemoveNode(t.Context(), w1ID, false)
	if !errdefs.Is(err, errdefs.KindPrecondition) || !strings.Contains(err.Error(), "is not down and can't be removed") {
		t.Fatalf("remove a ready worker without force: got %v, want a refusal", err)
	}
	if err := m1.api().RemoveNode(t.Context(), w1ID, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() string {
		if info := w1.node.Info(t.Context()); info.LocalNodeState != swarm.LocalNodeStateInactive {
			return "the removed node is " + string(info.LocalNodeState)
		}
		if w1.removedTasks.Load() == 0 {
			return "the removed node did not remove its task containers"
		}
		return ""
	})
	if _, err := loadMembership(w1.node.dir); err != nil {
		t.Fatal(err)
	} else if mem, _ := loadMembership(w1.node.dir); mem != nil {
		t.Fatalf("the removed node still remembers its swarm: %+v", mem)
	}
	var removed []string
	_, mgr, _, _ := m1.node.snapshot()
	mgr.store.View(func(tx store.ReadTx) { removed = store.TheCluster(tx).RemovedNodes })
	if !slices.Contains(removed, w1ID) {
		t.Fatalf("cluster's removed nodes %v, want %s among them", removed, w1ID)
	}
	// Its certificate is still valid, and refused.
	w1.node.keys.Store(oldKeys)
	_, err = w1.node.issue(t.Context(), m1.addr, &caserver.IssueRequest{})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("certificate renewal with the removed node's certificate: got %v, want NotFound", err)
	}
	w1.node.keys.Store(nil)

	// A worker that is down is removed without force.
	w2.stop()
	eventually(t, 20*time.Second, func() string {
		if n := m1.storedNode(w2ID); n.Status.State != swarm.NodeStateDown {
			return "the stopped worker is " + string(n.Status.State)
		}
		return ""
	})
	if err := m1.api().RemoveNode(t.Context(), w2ID, false); err != nil {
		t.Fatalf("remove a down worker: %v", err)
	}
}

func TestLeave(t *testing.T) {
	m1, m2, m3, w1 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNode(t, "m3"), newTestNode(t, "w1")
	// Slow heartbeats: a node marked down here was marked by its leave.
	spec := testSpec()
	spec.Dispatcher.HeartbeatPeriod = time.Minute
	m1.init(spec)
	m2.join(m1, swarm.NodeRoleManager)
	m3.join(m1, swarm.NodeRoleManager)
	w1ID := w1.join(m1, swarm.NodeRoleWorker)

	if err := w1.node.Leave(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	leader := leaderOf(t, m1, m2, m3)
	if n := leader.storedNode(w1ID); n.Status.State != swarm.NodeStateDown || n.Status.Message != "node left the swarm" {
		t.Fatalf("the worker that left is %+v, want down: node left the swarm", n.Status)
	}

	err := leader.node.Leave(t.Context(), false)
	if !errdefs.Is(err, errdefs.KindUnavailable) || !strings.Contains(err.Error(), "Use `--force` to ignore this message") {
		t.Fatalf("leave of a manager without force: got %v, want a refusal", err)
	}
	// The leader leaves with force: it hands leadership over and the new
	// leader takes it out of raft.
	leaderID := leader.id()
	if err := leader.node.Leave(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	var rest []*testNode
	for _, n := range []*testNode{m1, m2, m3} {
		if n != leader {
			rest = append(rest, n)
		}
	}
	next := leaderOf(t, rest...)
	if v := next.voters(); len(v) != 2 || slices.Contains(v, leaderID) {
		t.Fatalf("raft voters %v, want the two managers left", v)
	}
	eventually(t, 10*time.Second, func() string {
		if n := next.storedNode(leaderID); n.Spec.Role != swarm.NodeRoleWorker || n.ManagerStatus != nil || n.Status.State != swarm.NodeStateDown {
			return fmt.Sprintf("the manager that left: role %s, manager status %s, state %s; want a down worker", n.Spec.Role, managerStatusOf(n), n.Status.State)
		}
		return ""
	})
	// It is a plain down worker now: docker node rm needs no demotion.
	if err := next.api().RemoveNode(t.Context(), leaderID, false); err != nil {
		t.Fatalf("remove the manager that left: %v", err)
	}
	putService(t, next, "after-leave")
}

func TestQuorumLossAndRecovery(t *testing.T) {
	m1, m2, m3 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNode(t, "m3")
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	m3.join(m1, swarm.NodeRoleManager)
	putService(t, leaderOf(t, m1, m2, m3), "before")
	eventually(t, 10*time.Second, func() string {
		if !hasService(m3, "before") {
			return "m3 did not apply the write"
		}
		return ""
	})

	m1.stop()
	m2.stop()
	// No leader: the forwarding middleware refuses writes at once, and a
	// write that reaches raft fails as unavailable.
	eventually(t, 10*time.Second, func() string {
		rt := m3.node.Forwarder()
		if rt == nil {
			return "m3 is no manager"
		}
		if addr, fwd := rt.Route(); !fwd || addr != "" {
			return fmt.Sprintf("m3 routes writes to %q (forwarding: %v)", addr, fwd)
		}
		return ""
	})
	err := m3.api().RemoveNode(t.Context(), "nothing-such", false)
	if !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("a refused write: got %v, want not found", err)
	}
	_, mgr, _, _ := m3.node.snapshot()
	err = mgr.store.Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Service{Service: swarm.Service{ID: "during"}})
	})
	if !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Fatalf("a write without quorum: got %v, want unavailable", err)
	}
	// The API's reads wait for a read index, which no leader gives.
	readCtx, cancelRead := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancelRead()
	if idx, err := m3.node.Forwarder().ReadIndex(readCtx); err == nil {
		t.Fatalf("a read index without quorum: %d", idx)
	}
	// The control API underneath still reads its local store (info and
	// the node's own views need it).
	nodes, err := m3.api().ListNodes(t.Context(), filters.New())
	if err != nil || len(nodes) != 3 {
		t.Fatalf("node list without quorum: %d nodes, %v; want 3", len(nodes), err)
	}
	if info := m3.node.Info(t.Context()); !info.ControlAvailable || info.Managers != 3 {
		t.Fatalf("info without quorum: %+v", info)
	}

	// One manager back is a quorum again; the swarm recovers by itself.
	m2.start()
	leader := leaderOf(t, m2, m3)
	putService(t, leader, "after")
	eventually(t, 10*time.Second, func() string {
		if !hasService(m2, "after") || !hasService(m3, "after") {
			return "the managers did not apply the write after recovery"
		}
		return ""
	})
	m1.start()
	eventually(t, 20*time.Second, func() string {
		if !hasService(m1, "after") {
			return "the last manager back did not catch up"
		}
		return ""
	})
}

func TestForceNewCluster(t *testing.T) {
	m1, m2, m3, w1 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNode(t, "m3"), newTestNode(t, "w1")
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	m3.join(m1, swarm.NodeRoleManager)
	w1ID := w1.join(m1, swarm.NodeRoleWorker)
	putService(t, leaderOf(t, m1, m2, m3), "kept")
	eventually(t, 10*time.Second, func() string {
		if !hasService(m1, "kept") {
			return "m1 did not apply the write"
		}
		return ""
	})
	m2.stop()
	m3.stop()

	_, err := w1.node.Init(t.Context(), swarm.InitRequest{ForceNewCluster: true})
	if !errdefs.Is(err, errdefs.KindInvalid) {
		t.Fatalf("force-new-cluster on a worker: got %v, want invalid", err)
	}
	id, err := m1.node.Init(t.Context(), swarm.InitRequest{ForceNewCluster: true})
	if err != nil || id != m1.id() {
		t.Fatalf("force-new-cluster: got %s, %v; want %s", id, err, m1.id())
	}
	if v := m1.voters(); len(v) != 1 || v[0] != m1.id() {
		t.Fatalf("raft voters %v, want m1 alone", v)
	}
	if !hasService(m1, "kept") {
		t.Fatal("the swarm's state was lost")
	}
	putService(t, m1, "after")
	for _, m := range []*testNode{m2, m3} {
		n := m1.storedNode(m.id())
		if n.Spec.Role != swarm.NodeRoleWorker || n.ManagerStatus != nil {
			t.Fatalf("old manager %s: role %s, manager status %s; want a worker without one", m.name, n.Spec.Role, managerStatusOf(n))
		}
	}
	if n := m1.storedNode(w1ID); n == nil || n.Spec.Role != swarm.NodeRoleWorker {
		t.Fatalf("the worker after forcing a new cluster: %v", n)
	}
	// An old manager that comes back steps out of its stale raft group
	// and serves as a worker.
	m2.start()
	eventually(t, 30*time.Second, func() string { return isWorker(t, m1, m2) })
	if v := m1.voters(); len(v) != 1 {
		t.Fatalf("raft voters %v after the old manager came back, want m1 alone", v)
	}
}

func TestJoinThroughAFollower(t *testing.T) {
	m1, m2, w1, m3 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNode(t, "w1"), newTestNode(t, "m3")
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	leader := leaderOf(t, m1, m2)
	follower := m1
	if leader == m1 {
		follower = m2
	}
	// The follower's control API answers for its tokens; the leader
	// registers the nodes.
	w1.join(follower, swarm.NodeRoleWorker)
	m3.join(follower, swarm.NodeRoleManager)
	eventually(t, 20*time.Second, func() string { return isManager(t, leaderOf(t, m1, m2, m3), m3) })
	if n := leader.storedNode(w1.id()); n == nil || n.Spec.Role != swarm.NodeRoleWorker {
		t.Fatalf("the worker joined through a follower: %v", n)
	}
}
