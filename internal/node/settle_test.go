package node

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

// TestNodeUpdatedRightAfterInitAndJoin: a client that reads a node as
// soon as swarm init or join returned and updates it with the version it
// read is not refused as out of sequence (docker-py's test_update_node):
// the node's own first writes — its agent's session, its addresses, its
// manager status — land before init and join return.
func TestNodeUpdatedRightAfterInitAndJoin(t *testing.T) {
	m1, w1, m2 := newTestNode(t, "m1"), newTestNode(t, "w1"), newTestNode(t, "m2")
	readThenUpdate := func(step string, leader *testNode, id string) {
		t.Helper()
		api := leader.api()
		n, err := api.GetNode(t.Context(), id)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		// What the node's first writes give it is there already: the
		// agent's description and its routing mesh address.
		if stored := leader.storedNode(id); stored == nil || stored.Description.Hostname == "" || len(stored.NetworkAttachments) == 0 {
			t.Fatalf("%s: node %s has no description or ingress address yet: %+v", step, id, stored)
		}
		spec := n.Spec
		spec.Labels = map[string]string{"read": "then-updated"}
		if err := api.UpdateNode(t.Context(), id, n.Version.Index, spec); err != nil {
			t.Fatalf("%s: update of node %s at the version just read (%d): %v", step, id, n.Version.Index, err)
		}
	}
	m1.init(testSpec())
	readThenUpdate("after init", m1, m1.id())
	w1.join(m1, swarm.NodeRoleWorker)
	readThenUpdate("after a worker joined", m1, w1.id())
	m2.join(m1, swarm.NodeRoleManager)
	readThenUpdate("after a manager joined", m1, m2.id())
}
