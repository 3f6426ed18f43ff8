package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
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
