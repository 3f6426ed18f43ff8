package node

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

func TestPlanMembers(t *testing.T) {
	up, down := swarm.ReachabilityReachable, swarm.ReachabilityUnreachable
	status := func(id string, leader bool, r swarm.Reachability) *swarm.ManagerStatus {
		return &swarm.ManagerStatus{Leader: leader, Reachability: r, Addr: id + ":2377"}
	}
	node := func(id string, role swarm.NodeRole, ms *swarm.ManagerStatus) *store.Node {
		return &store.Node{Node: swarm.Node{ID: id, Spec: swarm.NodeSpec{Role: role}, ManagerStatus: ms}}
	}
	voters := func(ids ...string) []raft.Server {
		var out []raft.Server
		for _, id := range ids {
			out = append(out, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":2377")})
		}
		return out
	}
	const mgr, wrk = swarm.NodeRoleManager, swarm.NodeRoleWorker
	tests := []struct {
		name        string
		nodes       []*store.Node
		voters      []raft.Server
		unreachable map[string]bool
		// wantStatus is the ManagerStatus of each changed node (nil: cleared).
		wantStatus   map[string]*swarm.ManagerStatus
		wantRemove   []string
		wantHandOver bool
	}{
		{
			name:       "nothing to change",
			nodes:      []*store.Node{node("b", mgr, status("b", true, up)), node("w", wrk, nil)},
			voters:     voters("b"),
			wantStatus: map[string]*swarm.ManagerStatus{},
		},
		{
			name:   "new leader takes over from the old one",
			nodes:  []*store.Node{node("a", mgr, status("a", true, up)), node("b", mgr, status("b", false, up))},
			voters: voters("a", "b"),
			wantStatus: map[string]*swarm.ManagerStatus{
				"a": status("a", false, up),
				"b": status("b", true, up),
			},
		},
		{
			name:        "a follower whose heartbeats fail is unreachable",
			nodes:       []*store.Node{node("a", mgr, status("a", false, up)), node("b", mgr, status("b", true, up))},
			voters:      voters("a", "b"),
			unreachable: map[string]bool{"a": true},
			wantStatus:  map[string]*swarm.ManagerStatus{"a": status("a", false, down)},
		},
		{
			name:       "a joined manager becomes reachable",
			nodes:      []*store.Node{node("c", mgr, &swarm.ManagerStatus{Reachability: swarm.ReachabilityUnknown, Addr: "c:2377"}), node("b", mgr, status("b", true, up))},
			voters:     voters("b", "c"),
			wantStatus: map[string]*swarm.ManagerStatus{"c": status("c", false, up)},
		},
		{
			name:       "a promoted worker that joined raft gets a status at its raft address",
			nodes:      []*store.Node{node("p", mgr, nil), node("b", mgr, status("b", true, up))},
			voters:     voters("b", "p"),
			wantStatus: map[string]*swarm.ManagerStatus{"p": status("p", false, up)},
		},
		{
			name:       "a promoted worker not yet in raft waits",
			nodes:      []*store.Node{node("p", mgr, nil), node("b", mgr, status("b", true, up))},
			voters:     voters("b"),
			wantStatus: map[string]*swarm.ManagerStatus{},
		},
		{
			name:       "a demoted follower is removed from raft, keeping its status until it is out",
			nodes:      []*store.Node{node("d", wrk, status("d", false, up)), node("b", mgr, status("b", true, up))},
			voters:     voters("b", "d"),
			wantStatus: map[string]*swarm.ManagerStatus{},
			wantRemove: []string{"d"},
		},
		{
			name:       "once out of raft a demoted node loses its status",
			nodes:      []*store.Node{node("d", wrk, status("d", false, up)), node("b", mgr, status("b", true, up))},
			voters:     voters("b"),
			wantStatus: map[string]*swarm.ManagerStatus{"d": nil},
		},
		{
			name:       "a voter whose node is gone is removed",
			nodes:      []*store.Node{node("b", mgr, status("b", true, up))},
			voters:     voters("b", "gone"),
			wantStatus: map[string]*swarm.ManagerStatus{},
			wantRemove: []string{"gone"},
		},
		{
			name:         "a demoted leader hands over and is never removed by itself",
			nodes:        []*store.Node{node("b", wrk, status("b", true, up)), node("c", mgr, status("c", false, up))},
			voters:       voters("b", "c"),
			wantStatus:   map[string]*swarm.ManagerStatus{},
			wantHandOver: true,
		},
		{
			name:       "the leader before its node object exists (swarm init)",
			nodes:      nil,
			voters:     voters("b"),
			wantStatus: map[string]*swarm.ManagerStatus{},
		},
		{
			name:       "a manager out of raft that was leader is not any more",
			nodes:      []*store.Node{node("a", mgr, status("a", true, down)), node("b", mgr, status("b", true, up))},
			voters:     voters("b"),
			wantStatus: map[string]*swarm.ManagerStatus{"a": status("a", false, down)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := make([]store.Node, len(tt.nodes))
			for i, n := range tt.nodes {
				before[i] = *store.Clone(n)
			}
			got := planMembers(tt.nodes, tt.voters, "b", tt.unreachable)
			gotStatus := map[string]*swarm.ManagerStatus{}
			for _, n := range got.Nodes {
				gotStatus[n.ID] = n.ManagerStatus
			}
			if diff := cmp.Diff(tt.wantStatus, gotStatus); diff != "" {
				t.Errorf("manager status changes (-want +got):\n%s", diff)
			}
			if !slices.Equal(got.Remove, tt.wantRemove) {
				t.Errorf("got removals %v, want %v", got.Remove, tt.wantRemove)
			}
			if got.HandOver != tt.wantHandOver {
				t.Errorf("got hand over %v, want %v", got.HandOver, tt.wantHandOver)
			}
			for i, n := range tt.nodes {
				if diff := cmp.Diff(before[i], *n); diff != "" {
					t.Errorf("node %s of the snapshot was changed in place:\n%s", n.ID, diff)
				}
			}
		})
	}
}
