package node

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

func TestManagerStatuses(t *testing.T) {
	mgr := func(id string, leader bool, r swarm.Reachability) *store.Node {
		return &store.Node{Node: swarm.Node{ID: id, ManagerStatus: &swarm.ManagerStatus{Leader: leader, Reachability: r, Addr: id + ":2377"}}}
	}
	worker := &store.Node{Node: swarm.Node{ID: "w"}}
	tests := []struct {
		name        string
		nodes       []*store.Node
		unreachable map[string]bool
		want        map[string]swarm.ManagerStatus
	}{
		{
			name:  "new leader takes over from the old one",
			nodes: []*store.Node{mgr("a", true, swarm.ReachabilityReachable), mgr("b", false, swarm.ReachabilityReachable), worker},
			want: map[string]swarm.ManagerStatus{
				"a": {Leader: false, Reachability: swarm.ReachabilityReachable, Addr: "a:2377"},
				"b": {Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "b:2377"},
			},
		},
		{
			name:        "a follower whose heartbeats fail is unreachable",
			nodes:       []*store.Node{mgr("a", false, swarm.ReachabilityReachable), mgr("b", true, swarm.ReachabilityReachable)},
			unreachable: map[string]bool{"a": true},
			want:        map[string]swarm.ManagerStatus{"a": {Reachability: swarm.ReachabilityUnreachable, Addr: "a:2377"}},
		},
		{
			name:  "a joined manager becomes reachable",
			nodes: []*store.Node{mgr("c", false, swarm.ReachabilityUnknown), mgr("b", true, swarm.ReachabilityReachable)},
			want:  map[string]swarm.ManagerStatus{"c": {Reachability: swarm.ReachabilityReachable, Addr: "c:2377"}},
		},
		{
			name:  "nothing to change",
			nodes: []*store.Node{mgr("b", true, swarm.ReachabilityReachable), worker},
			want:  map[string]swarm.ManagerStatus{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]swarm.ManagerStatus{}
			for _, n := range tt.nodes {
				if n.ManagerStatus != nil {
					before[n.ID] = *n.ManagerStatus
				}
			}
			got := managerStatuses(tt.nodes, "b", tt.unreachable)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d changes, want %d", len(got), len(tt.want))
			}
			for _, n := range got {
				if *n.ManagerStatus != tt.want[n.ID] {
					t.Errorf("node %s: got %+v, want %+v", n.ID, *n.ManagerStatus, tt.want[n.ID])
				}
			}
			for _, n := range tt.nodes {
				if n.ManagerStatus != nil && *n.ManagerStatus != before[n.ID] {
					t.Errorf("node %s of the snapshot was changed in place", n.ID)
				}
			}
		})
	}
}
