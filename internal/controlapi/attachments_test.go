package controlapi

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/manager/allocator"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

func attachableNet(id, name string, attachable bool) *store.Network {
	n := &store.Network{Network: swarm.Network{ID: id, Spec: swarm.NetworkSpec{Annotations: swarm.Annotations{Name: name}, Attachable: attachable}}}
	p := netip.MustParsePrefix("10.7.0.0/29")
	swarmnet.Record(n, swarmnet.Allocation{Subnet: p, Gateway: p.Addr().Next(), VNI: 4100})
	return n
}

func TestAttachmentTask(t *testing.T) {
	shared := attachableNet("net1", "shared", true)
	front := attachableNet("net2", "front", false)
	// 10.7.0.1 is the gateway; a task holds 10.7.0.2.
	holder := &store.Task{Task: swarm.Task{ID: "t0", NetworksAttachments: []swarm.NetworkAttachment{{Network: shared.Network, Addresses: []netip.Prefix{netip.MustParsePrefix("10.7.0.2/29")}}}}}
	req := swarmnet.AttachRequest{Network: "shared", ContainerID: "c1", ContainerName: "web1", Aliases: []string{"db"}}
	with := func(f func(*swarmnet.AttachRequest)) swarmnet.AttachRequest {
		r := req
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name     string
		net      *store.Network
		node     string
		req      swarmnet.AttachRequest
		wantAddr string
		wantKind errdefs.Kind
		wantErr  string
	}{
		{name: "any free address", net: shared, node: "n1", req: req, wantAddr: "10.7.0.3/29"},
		{name: "the address asked", net: shared, node: "n1", req: with(func(r *swarmnet.AttachRequest) { r.Addr = netip.MustParseAddr("10.7.0.6") }), wantAddr: "10.7.0.6/29"},
		{name: "not attachable", net: front, node: "n1", req: req, wantKind: errdefs.KindForbidden,
			wantErr: "rpc error: code = PermissionDenied desc = network front not manually attachable"},
		{name: "address taken", net: shared, node: "n1", req: with(func(r *swarmnet.AttachRequest) { r.Addr = netip.MustParseAddr("10.7.0.2") }), wantKind: errdefs.KindInvalid, wantErr: "already in use"},
		{name: "the gateway", net: shared, node: "n1", req: with(func(r *swarmnet.AttachRequest) { r.Addr = netip.MustParseAddr("10.7.0.1") }), wantKind: errdefs.KindInvalid, wantErr: "already in use"},
		{name: "outside the subnet", net: shared, node: "n1", req: with(func(r *swarmnet.AttachRequest) { r.Addr = netip.MustParseAddr("10.8.0.3") }), wantKind: errdefs.KindInvalid, wantErr: "not a host address"},
		{name: "the broadcast address", net: shared, node: "n1", req: with(func(r *swarmnet.AttachRequest) { r.Addr = netip.MustParseAddr("10.7.0.7") }), wantKind: errdefs.KindInvalid, wantErr: "not a host address"},
		{name: "no container", net: shared, node: "n1", req: with(func(r *swarmnet.AttachRequest) { r.ContainerID = "" }), wantKind: errdefs.KindInvalid, wantErr: "ContainerID"},
		{name: "no node", net: shared, req: req, wantKind: errdefs.KindInvalid, wantErr: "node"},
		{name: "bad alias", net: shared, node: "n1", req: with(func(r *swarmnet.AttachRequest) { r.Aliases = []string{"a b"} }), wantKind: errdefs.KindInvalid, wantErr: "Aliases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pools := allocator.NewPools(allocator.State{Networks: []*store.Network{shared, front}, Tasks: []*store.Task{holder}})
			now := time.Unix(1000, 0)
			got, err := AttachmentTask(tc.net, tc.node, tc.req, "t1", now, pools)
			if tc.wantErr != "" {
				if err == nil || errdefs.KindOf(err) != tc.wantKind || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v (kind %v), want a %v error with %q", err, errdefs.KindOf(err), tc.wantKind, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !swarmnet.IsAttachment(got) || swarmnet.AttachmentContainer(got) != "c1" || got.NodeID != "n1" || got.ServiceID != "" {
				t.Errorf("got task %+v, want an attachment of c1 on n1 with no service", got.Task)
			}
			if got.Status.State != swarm.TaskStateRunning || got.DesiredState != swarm.TaskStateRunning || got.Annotations.Name != "web1" {
				t.Errorf("got state %s/%s name %q, want running/running web1", got.Status.State, got.DesiredState, got.Annotations.Name)
			}
			if len(got.NetworksAttachments) != 1 || got.NetworksAttachments[0].Addresses[0].String() != tc.wantAddr {
				t.Errorf("got attachments %+v, want %s on shared", got.NetworksAttachments, tc.wantAddr)
			}
			if len(got.Spec.Networks) != 1 || got.Spec.Networks[0].Target != "net1" || len(got.Spec.Networks[0].Aliases) != 1 {
				t.Errorf("got spec networks %+v, want net1 with alias db", got.Spec.Networks)
			}
		})
	}
}

func TestStaleAttachments(t *testing.T) {
	att := func(id, cid string) *store.Task {
		return &store.Task{Task: swarm.Task{ID: id, Spec: swarm.TaskSpec{NetworkAttachmentSpec: &swarm.NetworkAttachmentSpec{ContainerID: cid}}}}
	}
	svcTask := &store.Task{Task: swarm.Task{ID: "s1", ServiceID: "svc"}}
	got := StaleAttachments([]*store.Task{att("a1", "kept"), att("a2", "gone"), svcTask}, []string{"kept"})
	if len(got) != 1 || got[0].ID != "a2" {
		t.Fatalf("got %v, want only a2 (its container is gone; service tasks are never stale attachments)", got)
	}
}
