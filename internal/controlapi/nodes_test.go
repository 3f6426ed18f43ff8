package controlapi

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/store"
)

func storedNode(t *testing.T, s *store.Store, id string) *store.Node {
	t.Helper()
	var n *store.Node
	s.View(func(tx store.ReadTx) { n = store.Get[*store.Node](tx, id) })
	return n
}

func TestListNodesFilters(t *testing.T) {
	a, s := newAPI(t)
	m := node("mgr1", "alpha", swarm.NodeRoleManager, swarm.NodeStateReady)
	m.Description.Engine.Labels = map[string]string{"os": "linux"}
	w := node("wrk1", "beta", swarm.NodeRoleWorker, swarm.NodeStateReady)
	w.Spec.Labels = map[string]string{"zone": "east"}
	put(t, s, m, w, node("wrk2", "alpine", swarm.NodeRoleWorker, swarm.NodeStateDown))
	tests := []struct {
		name  string
		pairs [][2]string
		want  []string
	}{
		{"all", nil, []string{"mgr1", "wrk1", "wrk2"}},
		{"role", [][2]string{{"role", "Worker"}}, []string{"wrk1", "wrk2"}},
		{"name prefix", [][2]string{{"name", "alp"}}, []string{"mgr1", "wrk2"}},
		{"engine label", [][2]string{{"label", "os=linux"}}, []string{"mgr1"}},
		{"node label", [][2]string{{"node.label", "zone"}}, []string{"wrk1"}},
		{"id", [][2]string{{"id", "wrk"}}, []string{"wrk1", "wrk2"}},
		{"accepted", [][2]string{{"membership", "accepted"}}, []string{"mgr1", "wrk1", "wrk2"}},
		{"pending", [][2]string{{"membership", "pending"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.ListNodes(t.Context(), filters.New(tt.pairs...))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, n := range got {
				ids = append(ids, n.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("got %v, want %v", ids, tt.want)
			}
		})
	}
	_, err := a.ListNodes(t.Context(), filters.New([2]string{"role", "boss"}))
	wantErr(t, err, errdefs.KindInvalid, "Invalid role filter: 'boss'")
	_, err = a.ListNodes(t.Context(), filters.New([2]string{"membership", "maybe"}))
	wantErr(t, err, errdefs.KindInvalid, "Invalid membership filter: 'maybe'")
	if n, err := a.GetNode(t.Context(), "beta"); err != nil || n.ID != "wrk1" {
		t.Fatalf("GetNode(beta) got %s, %v; want wrk1", n.ID, err)
	}
	_, err = a.GetNode(t.Context(), "self")
	wantErr(t, err, errdefs.KindNotFound, "node self not found")
}

func TestUpdateNode(t *testing.T) {
	a, s := newAPI(t)
	put(t, s, node("mgr1", "alpha", swarm.NodeRoleManager, swarm.NodeStateReady), node("wrk1", "beta", swarm.NodeRoleWorker, swarm.NodeStateReady))
	m := storedNode(t, s, "mgr1")
	before := snapshot(t, s)
	demote := swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive}
	wantErr(t, a.UpdateNode(t.Context(), "mgr1", m.Version.Index, demote), errdefs.KindPrecondition,
		"rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm")
	wantErr(t, a.UpdateNode(t.Context(), "mgr1", m.Version.Index+5, m.Spec), errdefs.KindConflict, "update out of sequence")
	wantErr(t, a.UpdateNode(t.Context(), "mgr1", m.Version.Index, swarm.NodeSpec{Role: "manager", Availability: "nap"}), errdefs.KindInvalid, "Availability")
	wantErr(t, a.UpdateNode(t.Context(), "ghost", 1, m.Spec), errdefs.KindNotFound, "node ghost not found")
	if snapshot(t, s) != before {
		t.Fatal("a refused node update changed the store")
	}

	w := storedNode(t, s, "wrk1")
	drain := swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: "drain", Annotations: swarm.Annotations{Labels: map[string]string{"zone": "east"}}}
	if err := a.UpdateNode(t.Context(), "beta", w.Version.Index, drain); err != nil {
		t.Fatal(err)
	}
	w = storedNode(t, s, "wrk1")
	if w.Spec.Role != swarm.NodeRoleManager || w.Spec.Availability != swarm.NodeAvailabilityDrain || w.Spec.Labels["zone"] != "east" {
		t.Fatalf("node spec got %+v, want manager/drain/zone=east", w.Spec)
	}
	// The promoted node is no raft member yet: demoting the only voter
	// would leave raft without one.
	m = storedNode(t, s, "mgr1")
	wantErr(t, a.UpdateNode(t.Context(), "mgr1", m.Version.Index, demote), errdefs.KindPrecondition,
		"rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a loss of quorum")
	// Once it joined raft (the leader gives it a ManagerStatus), with two
	// reachable managers one may be demoted.
	w = store.Clone(storedNode(t, s, "wrk1"))
	w.ManagerStatus = &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable}
	put(t, s, w)
	if err := a.UpdateNode(t.Context(), "mgr1", m.Version.Index, demote); err != nil {
		t.Fatal(err)
	}
}

func TestKeepsQuorumWithout(t *testing.T) {
	voter := func(id string, r swarm.Reachability) *store.Node {
		return &store.Node{Node: swarm.Node{ID: id, Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager},
			ManagerStatus: &swarm.ManagerStatus{Reachability: r, Leader: id == "leader"}}}
	}
	up, down := swarm.ReachabilityReachable, swarm.ReachabilityUnreachable
	joining := &store.Node{Node: swarm.Node{ID: "joining", Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager}}}
	tests := []struct {
		name  string
		nodes []*store.Node
		id    string
		want  bool
	}{
		{"3 reachable, demote one", []*store.Node{voter("leader", up), voter("b", up), voter("c", up)}, "c", true},
		{"3 with one down, demote the down one", []*store.Node{voter("leader", up), voter("b", up), voter("c", down)}, "c", true},
		{"3 with one down, demote a reachable one", []*store.Node{voter("leader", up), voter("b", up), voter("c", down)}, "b", false},
		{"2 reachable, demote one", []*store.Node{voter("leader", up), voter("b", up)}, "b", true},
		{"2 with the other down, demote the leader", []*store.Node{voter("leader", up), voter("b", down)}, "leader", false},
		{"5 with two down, demote a reachable one", []*store.Node{voter("leader", up), voter("b", up), voter("c", up), voter("d", down), voter("e", down)}, "c", false},
		{"5 with one down, demote a reachable one", []*store.Node{voter("leader", up), voter("b", up), voter("c", up), voter("d", up), voter("e", down)}, "c", true},
		{"unknown reachability counts as unreachable", []*store.Node{voter("leader", up), voter("b", swarm.ReachabilityUnknown), voter("c", up)}, "c", false},
		{"a manager not in raft yet", []*store.Node{voter("leader", up), joining}, "joining", true},
		{"the only voter", []*store.Node{voter("leader", up), joining}, "leader", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keepsQuorumWithout(tt.nodes, tt.id); got != tt.want {
				t.Fatalf("keepsQuorumWithout(%s) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestRememberRemovedKeepsTheNewest(t *testing.T) {
	got := rememberRemoved([]string{"a", "b", "c"}, "d", 3)
	if want := []string{"b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestRemoveNode(t *testing.T) {
	a, s := newAPI(t)
	put(t, s,
		node("mgr1", "alpha", swarm.NodeRoleManager, swarm.NodeStateReady),
		node("wrk1", "beta", swarm.NodeRoleWorker, swarm.NodeStateReady),
		node("wrk2", "gamma", swarm.NodeRoleWorker, swarm.NodeStateDown),
		&store.Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "c1"}}},
	)
	before := snapshot(t, s)
	wantErr(t, a.RemoveNode(t.Context(), "alpha", true), errdefs.KindPrecondition,
		"node mgr1 is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal")
	wantErr(t, a.RemoveNode(t.Context(), "beta", false), errdefs.KindPrecondition, "node wrk1 is not down and can't be removed")
	wantErr(t, a.RemoveNode(t.Context(), "delta", false), errdefs.KindNotFound, "node delta not found")
	if snapshot(t, s) != before {
		t.Fatal("a refused node removal changed the store")
	}
	if err := a.RemoveNode(t.Context(), "gamma", false); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveNode(t.Context(), "wrk1", true); err != nil {
		t.Fatal(err)
	}
	if storedNode(t, s, "wrk1") != nil || storedNode(t, s, "wrk2") != nil {
		t.Fatal("removed nodes still stored")
	}
	var c *store.Cluster
	s.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	if want := []string{"wrk2", "wrk1"}; !slices.Equal(c.RemovedNodes, want) {
		t.Fatalf("cluster's removed nodes %v, want %v", c.RemovedNodes, want)
	}
}
