package dispatcher

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// A node attaches its container to an attachable network over its
// session: the attachment is in its view, never in its assignments, and
// only that node removes it.
func TestAttachNetwork(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	net := func(id, name string, attachable bool) *store.Network {
		n := &store.Network{Network: swarm.Network{ID: id, Spec: swarm.NetworkSpec{Annotations: swarm.Annotations{Name: name}, Attachable: attachable}}}
		p := netip.MustParsePrefix("10.9.0.0/24")
		swarmnet.Record(n, swarmnet.Allocation{Subnet: p, Gateway: p.Addr().Next(), VNI: 4300})
		return n
	}
	m.update(t, func(tx *store.WriteTx) error {
		if err := tx.Put(net("shared", "shared", true)); err != nil {
			return err
		}
		return tx.Put(net("front", "front", false))
	})
	worker, other := m.addNode(t, ca.WorkerRole), m.addNode(t, ca.WorkerRole)
	c, oc := m.client(t, &worker), m.client(t, &other)
	msgs, _ := openSession(t, t.Context(), c, &swarm.NodeDescription{Hostname: "w1"})
	first := recv(t, msgs)
	omsgs, _ := openSession(t, t.Context(), oc, &swarm.NodeDescription{Hostname: "w2"})
	ofirst := recv(t, omsgs)

	req := &AttachNetworkRequest{SessionID: first.SessionID, AttachRequest: swarmnet.AttachRequest{Network: "shared", ContainerID: "c1", ContainerName: "one"}}
	att, err := c.AttachNetwork(t.Context(), req)
	if err != nil {
		t.Fatalf("AttachNetwork: %v", err)
	}
	if att.NodeID != worker.ID || len(att.NetworksAttachments) != 1 || att.NetworksAttachments[0].Addresses[0].String() != "10.9.0.2/24" {
		t.Fatalf("attachment %+v, want 10.9.0.2/24 on shared for %s", att.Task, worker.ID)
	}
	if again, err := c.AttachNetwork(t.Context(), req); err != nil || again.ID != att.ID {
		t.Errorf("asking again: %v, %v; want the same attachment %s", again, err, att.ID)
	}
	for _, tc := range []struct {
		network string
		kind    errdefs.Kind
		msg     string
	}{
		{"front", errdefs.KindForbidden, "rpc error: code = PermissionDenied desc = network front not manually attachable"},
		{"nosuch", errdefs.KindNotFound, "network nosuch not found"},
	} {
		r := *req
		r.Network = tc.network
		_, err := c.AttachNetwork(t.Context(), &r)
		if err = rpc.Error(err); errdefs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("attach to %s: %v (kind %v), want %v %q", tc.network, err, errdefs.KindOf(err), tc.kind, tc.msg)
		}
	}

	waitFor(t, "the attachment in the worker's view and not in its assignments", func() bool {
		select {
		case msg := <-msgs:
			if len(msg.Assignments.Tasks) > 0 {
				t.Fatalf("assignments %v carry the attachment", taskIDs(msg.Assignments))
			}
			if v := msg.Networks; v != nil {
				if n := v.Network("shared"); n != nil && len(n.Endpoints) == 1 && n.Endpoints[0].Name == "one" && n.Endpoints[0].Running {
					return true
				}
			}
		default:
		}
		return false
	})

	err = rpc.Error(oc.DetachNetwork(t.Context(), &DetachNetworkRequest{SessionID: ofirst.SessionID, TaskID: att.ID}))
	if errdefs.KindOf(err) != errdefs.KindForbidden || m.task(att.ID) == nil {
		t.Errorf("another node's detach: %v; want it refused and the attachment kept", err)
	}
	if n, err := c.PruneAttachments(t.Context(), &PruneAttachmentsRequest{SessionID: first.SessionID, Containers: []string{"c1"}}); err != nil || n != 0 {
		t.Errorf("prune keeping c1: %d, %v; want nothing removed", n, err)
	}
	if err := c.DetachNetwork(t.Context(), &DetachNetworkRequest{SessionID: first.SessionID, TaskID: att.ID}); err != nil || m.task(att.ID) != nil {
		t.Errorf("detach: %v; want the attachment gone", err)
	}
	att2, err := c.AttachNetwork(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.PruneAttachments(t.Context(), &PruneAttachmentsRequest{SessionID: first.SessionID}); err != nil || n != 1 || m.task(att2.ID) != nil {
		t.Errorf("prune keeping nothing: %d, %v; want the attachment gone", n, err)
	}
}
