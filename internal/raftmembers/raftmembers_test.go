package raftmembers

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

type manager struct {
	node  clusterconntest.Node
	addr  string
	store *store.Store
	raft  *consensus.Node
}

// startManager runs a manager's cluster port, raft over it and this
// service, the way a Shoal manager does.
func startManager(t *testing.T, root *ca.RootCA) *manager {
	t.Helper()
	node := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, node)
	addr := mux.Addr().String()
	client := clusterconn.ClientTLS(root.Trust(), &node.Cert, clusterconn.ProtoRaft)
	stream, err := clusterconn.NewRaftStreamLayer(mux, addr, func() *tls.Config { return client })
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(stream, 3, 5*time.Second, nil)
	st := store.New()
	rn, err := consensus.Open(consensus.Config{Dir: t.TempDir(), LocalID: node.ID, Transport: trans}, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Shutdown() })
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) { r.RegisterService(&serviceDesc, New(rn, st)) })
	return &manager{node: node, addr: addr, store: st, raft: rn}
}

func (m *manager) dialer(root *ca.RootCA) Dialer {
	return func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
		conf := clusterconn.ClientTLS(root.Trust(), &m.node.Cert, clusterconn.ProtoGRPC)
		return clusterconn.DialGRPC(ctx, addr, func() *tls.Config { return conf })
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func putNode(t *testing.T, st *store.Store, id string, role swarm.NodeRole) {
	t.Helper()
	n := &store.Node{Node: swarm.Node{ID: id, Spec: swarm.NodeSpec{Role: role}, Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "192.0.2.9"}}}
	if role == swarm.NodeRoleManager {
		n.ManagerStatus = &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable}
	}
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error { return tx.Put(n) }); err != nil {
		t.Fatal(err)
	}
}

func voters(t *testing.T, m *manager) []string {
	t.Helper()
	cf := m.raft.Raft().GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range cf.Configuration().Servers {
		ids = append(ids, string(s.ID))
	}
	return ids
}

// twoManagers makes a bootstrapped leader and a second manager that
// joined it through the service.
func twoManagers(t *testing.T) (root *ca.RootCA, first, second *manager) {
	t.Helper()
	root = clusterconntest.NewRoot(t)
	first = startManager(t, root)
	if err := first.raft.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first manager leads", first.raft.IsLeader)
	second = startManager(t, root)
	putNode(t, first.store, first.node.ID, swarm.NodeRoleManager)
	putNode(t, first.store, second.node.ID, swarm.NodeRoleManager)
	// The second manager asks itself first: a follower that is no member
	// says it is not the leader, and the leader adds it.
	if err := JoinVia(t.Context(), []string{second.addr, first.addr}, second.addr, second.dialer(root)); err != nil {
		t.Fatal(err)
	}
	return root, first, second
}

func TestJoinAddsAVoterThatReplicates(t *testing.T) {
	_, first, second := twoManagers(t)
	if err := first.store.Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Service{Service: swarm.Service{ID: "s1"}})
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the joined manager receives the leader's write", func() bool {
		var got *store.Service
		second.store.View(func(tx store.ReadTx) { got = store.Get[*store.Service](tx, "s1") })
		return got != nil
	})
}

func TestJoinRefusesANodeTheStoreDoesNotHoldAsManager(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	first := startManager(t, root)
	if err := first.raft.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first manager leads", first.raft.IsLeader)
	demoted := startManager(t, root) // a manager certificate from before a demotion
	putNode(t, first.store, demoted.node.ID, swarm.NodeRoleWorker)
	err := JoinVia(t.Context(), []string{first.addr}, demoted.addr, demoted.dialer(root))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("join of a demoted node: got %v, want PermissionDenied", err)
	}
	if got := voters(t, first); len(got) != 1 {
		t.Fatalf("raft voters %v, want the first manager alone", got)
	}
}

func TestLeaveRemovesAFollowerAndClearsItsManagerStatus(t *testing.T) {
	root, first, second := twoManagers(t)
	if err := LeaveVia(t.Context(), []string{second.addr, first.addr}, false, second.dialer(root)); err != nil {
		t.Fatal(err)
	}
	if got := voters(t, first); len(got) != 1 || got[0] != first.node.ID {
		t.Fatalf("raft voters %v, want %s alone", got, first.node.ID)
	}
	first.store.View(func(tx store.ReadTx) {
		n := store.Get[*store.Node](tx, second.node.ID)
		if n.ManagerStatus != nil || n.Spec.Role != swarm.NodeRoleManager || n.Status.State != swarm.NodeStateReady {
			t.Fatalf("node after leaving raft only: %+v, want no manager status and the rest unchanged", n.Node)
		}
	})
	// Asking again is no error: it is out already.
	if err := LeaveVia(t.Context(), []string{first.addr}, false, second.dialer(root)); err != nil {
		t.Fatalf("second leave: %v", err)
	}
}

func TestLeaderLeavingHandsOverLeadershipFirst(t *testing.T) {
	root, first, second := twoManagers(t)
	// A third voter, so that the group keeps a quorum without the first.
	third := startManager(t, root)
	putNode(t, first.store, third.node.ID, swarm.NodeRoleManager)
	if err := JoinVia(t.Context(), []string{first.addr}, third.addr, third.dialer(root)); err != nil {
		t.Fatal(err)
	}
	addrs := []string{first.addr, second.addr, third.addr}
	if err := LeaveVia(t.Context(), addrs, true, first.dialer(root)); err != nil {
		t.Fatal(err)
	}
	var leader *manager
	for _, m := range []*manager{second, third} {
		if m.raft.IsLeader() {
			leader = m
		}
	}
	if leader == nil {
		t.Fatal("neither remaining manager leads")
	}
	if got := voters(t, leader); len(got) != 2 || slices.Contains(got, first.node.ID) {
		t.Fatalf("raft voters %v, want the two others", got)
	}
	leader.store.View(func(tx store.ReadTx) {
		n := store.Get[*store.Node](tx, first.node.ID)
		if n.ManagerStatus != nil || n.Spec.Role != swarm.NodeRoleWorker || n.Status.State != swarm.NodeStateDown {
			t.Fatalf("node that left the swarm: %+v, want a down worker without manager status", n.Node)
		}
	})
}

func TestWorkerLeavingTheSwarmIsMarkedDown(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	m := startManager(t, root)
	if err := m.raft.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the manager leads", m.raft.IsLeader)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	putNode(t, m.store, worker.ID, swarm.NodeRoleWorker)
	cc := clusterconntest.Dial(t, root, m.addr, &worker)
	if err := cc.Invoke(t.Context(), MethodLeave, &LeaveRequest{Swarm: true}, new(LeaveResponse)); err != nil {
		t.Fatal(err)
	}
	m.store.View(func(tx store.ReadTx) {
		if n := store.Get[*store.Node](tx, worker.ID); n.Status.State != swarm.NodeStateDown || n.Status.Message != "node left the swarm" {
			t.Fatalf("worker status %+v, want down: node left the swarm", n.Status)
		}
	})
}

func TestWorkerCannotJoinRaft(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	m := startManager(t, root)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	cc := clusterconntest.Dial(t, root, m.addr, &worker)
	err := cc.Invoke(t.Context(), MethodJoin, &JoinRequest{Addr: "127.0.0.1:1"}, new(JoinResponse))
	if err == nil {
		t.Fatal("a worker certificate joined the raft group")
	}
}
