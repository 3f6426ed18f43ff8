package controlapi

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

func overlay(name string, mods ...func(*network.CreateRequest)) network.CreateRequest {
	r := network.CreateRequest{Name: name, Driver: "overlay"}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func subnet(s string, gw ...string) func(*network.CreateRequest) {
	return func(r *network.CreateRequest) {
		c := network.IPAMConfig{Subnet: netip.MustParsePrefix(s)}
		if len(gw) > 0 {
			c.Gateway = netip.MustParseAddr(gw[0])
		}
		r.IPAM = &network.IPAM{Config: []network.IPAMConfig{c}}
	}
}

func mustNetwork(t *testing.T, a *API, req network.CreateRequest) *store.Network {
	t.Helper()
	id, err := a.CreateNetwork(t.Context(), req)
	if err != nil {
		t.Fatalf("create network %s: %v", req.Name, err)
	}
	n, err := a.GetNetwork(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateNetworkAllocates(t *testing.T) {
	a, _ := newAPI(t)
	ingress := mustNetwork(t, a, overlay("ingress", func(r *network.CreateRequest) { r.Ingress = true }))
	front := mustNetwork(t, a, overlay("front", func(r *network.CreateRequest) { r.Attachable = true }))
	own := mustNetwork(t, a, overlay("own", subnet("192.168.50.0/24", "192.168.50.254")))
	pinned := mustNetwork(t, a, overlay("pinned", func(r *network.CreateRequest) { r.Options = map[string]string{swarmnet.VNIOption: "5000"} }))
	tests := []struct {
		n                   *store.Network
		subnet, gateway     string
		vni                 uint32
		ingress, attachable bool
	}{
		{ingress, "10.0.0.0/24", "10.0.0.1", 4096, true, false},
		{front, "10.0.1.0/24", "10.0.1.1", 4097, false, true},
		{own, "192.168.50.0/24", "192.168.50.254", 4098, false, false},
		{pinned, "10.0.2.0/24", "10.0.2.1", 5000, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.n.Spec.Name, func(t *testing.T) {
			got, ok := swarmnet.Allocated(tt.n)
			if !ok || got.Subnet.String() != tt.subnet || got.Gateway.String() != tt.gateway || got.VNI != tt.vni {
				t.Errorf("got %+v (allocated %v), want %s gateway %s VNI %d", got, ok, tt.subnet, tt.gateway, tt.vni)
			}
			if tt.n.Spec.Ingress != tt.ingress || tt.n.Spec.Attachable != tt.attachable || tt.n.Spec.Scope != "swarm" {
				t.Errorf("got spec %+v", tt.n.Spec)
			}
		})
	}
}

func TestCreateNetworkRefuses(t *testing.T) {
	a, s := newAPI(t)
	mustNetwork(t, a, overlay("ingress", func(r *network.CreateRequest) { r.Ingress = true }))
	mustNetwork(t, a, overlay("taken", subnet("172.20.0.0/16")))
	before := snapshot(t, s)
	tests := []struct {
		name string
		req  network.CreateRequest
		kind errdefs.Kind
		msg  string
	}{
		{"no name", overlay(""), errdefs.KindInvalid, "name must be provided"},
		{"bad name", overlay("no spaces"), errdefs.KindInvalid, "valid as a DNS name component"},
		{"duplicate name", overlay("taken"), errdefs.KindConflict, "network with name taken already exists"},
		{"local driver", network.CreateRequest{Name: "b", Driver: "bridge"}, errdefs.KindInvalid, `driver "bridge"`},
		{"second ingress", overlay("ingress2", func(r *network.CreateRequest) { r.Ingress = true }), errdefs.KindConflict, "ingress network"},
		{"overlapping subnet", overlay("o", subnet("172.20.5.0/24")), errdefs.KindForbidden, "Pool overlaps with other one on this address space"},
		{"gateway outside", overlay("g", subnet("10.50.0.0/24", "10.60.0.1")), errdefs.KindInvalid, "IPAM.Config.Gateway 10.60.0.1"},
		{"unmasked subnet", overlay("u", subnet("10.50.0.7/24")), errdefs.KindInvalid, "did you mean 10.50.0.0/24"},
		{"IPv6 subnet", overlay("v6", subnet("fd00::/64")), errdefs.KindInvalid, "only IPv4 subnets"},
		{"too small", overlay("small", subnet("10.50.0.0/31")), errdefs.KindInvalid, "too small"},
		{"bad VNI", overlay("vni", func(r *network.CreateRequest) { r.Options = map[string]string{swarmnet.VNIOption: "99999999"} }), errdefs.KindInvalid, "a VXLAN ID is a number from 1 to 16777215"},
		{"local scope", overlay("l", func(r *network.CreateRequest) { r.Scope = "local" }), errdefs.KindInvalid, "scope"},
		{"attachable ingress", overlay("ai", func(r *network.CreateRequest) { r.Ingress, r.Attachable = true, true }), errdefs.KindInvalid, "cannot be attachable"},
		{"IPv6", overlay("six", func(r *network.CreateRequest) { yes := true; r.EnableIPv6 = &yes }), errdefs.KindInvalid, "EnableIPv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.CreateNetwork(t.Context(), tt.req)
			if err == nil || errdefs.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v (kind %v), want kind %v containing %q", err, errdefs.KindOf(err), tt.kind, tt.msg)
			}
		})
	}
	if snapshot(t, s) != before {
		t.Fatal("a refused create changed the store")
	}
}

func TestServicesOnNetworks(t *testing.T) {
	a, s := newAPI(t)
	ingress := mustNetwork(t, a, overlay("ingress", func(r *network.CreateRequest) { r.Ingress = true }))
	front := mustNetwork(t, a, overlay("front"))
	spec := validSpec("web")
	spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "front", Aliases: []string{"www"}}}
	spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
	id := mustCreate(t, a, spec)
	web := stored(t, s, id)
	if got := web.Spec.TaskTemplate.Networks[0].Target; got != front.ID {
		t.Errorf("stored target %q, want the network's ID %s", got, front.ID)
	}
	vips := map[string]string{}
	for _, v := range web.Endpoint.VirtualIPs {
		vips[v.NetworkID] = v.Addr.String()
	}
	if vips[ingress.ID] != "10.0.0.2/24" || vips[front.ID] != "10.0.1.2/24" || len(vips) != 2 {
		t.Errorf("got VIPs %v, want 10.0.0.2/24 on ingress and 10.0.1.2/24 on front", vips)
	}

	before := snapshot(t, s)
	for _, tt := range []struct {
		name   string
		target string
		kind   errdefs.Kind
		msg    string
	}{
		{"missing network", "nope", errdefs.KindNotFound, "network nope not found"},
		{"ingress by hand", "ingress", errdefs.KindInvalid, "service cannot be explicitly attached to the ingress network"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := validSpec("bad")
			bad.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: tt.target}}
			_, err := a.CreateService(t.Context(), bad)
			if err == nil || errdefs.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want kind %v containing %q", err, tt.kind, tt.msg)
			}
		})
	}
	if snapshot(t, s) != before {
		t.Fatal("a refused create changed the store")
	}

	t.Run("remove refused while in use", func(t *testing.T) {
		err := a.RemoveNetwork(t.Context(), "front")
		if !errdefs.Is(err, errdefs.KindForbidden) || !strings.Contains(err.Error(), "network front is in use by service web") {
			t.Fatalf("got %v", err)
		}
		err = a.RemoveNetwork(t.Context(), "ingress")
		if !errdefs.Is(err, errdefs.KindForbidden) || !strings.Contains(err.Error(), "ingress network cannot be removed because service web depends on it") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an update leaving a network drops its VIP", func(t *testing.T) {
		cur := stored(t, s, id)
		next := cur.Spec
		next.TaskTemplate.Networks = nil
		next.EndpointSpec = nil
		if err := a.UpdateService(t.Context(), id, cur.Version.Index, next, RollbackNone); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, s, id).Endpoint.VirtualIPs; len(got) != 0 {
			t.Fatalf("got VIPs %v, want none", got)
		}
		if err := a.RemoveNetwork(t.Context(), "front"); err != nil {
			t.Fatalf("remove an unused network: %v", err)
		}
	})
	t.Run("prune keeps ingress", func(t *testing.T) {
		mustNetwork(t, a, overlay("spare"))
		got, err := a.PruneNetworks(t.Context(), filters.New())
		if err != nil || len(got) != 1 || got[0] != "spare" {
			t.Fatalf("got %v, %v; want [spare]", got, err)
		}
	})
}

func TestPublishingNeedsIngress(t *testing.T) {
	a, s := newAPI(t)
	before := snapshot(t, s)
	spec := validSpec("web")
	spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
	_, err := a.CreateService(t.Context(), spec)
	if !errdefs.Is(err, errdefs.KindPrecondition) || !strings.Contains(err.Error(), "service needs ingress network, but no ingress network is present") {
		t.Fatalf("got %v", err)
	}
	if snapshot(t, s) != before {
		t.Fatal("a refused create changed the store")
	}
}

// A network is refused while a live task holds it. Held only by tasks on
// their way out (`docker stack rm` removes a stack's networks right after
// its services, while their tasks still stop), its removal waits until
// they have ended, and then succeeds.
func TestRemoveNetworkHeldByEndingTasks(t *testing.T) {
	a, s := newAPI(t)
	front := mustNetwork(t, a, overlay("front"))
	web := mustCreate(t, a, swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
	})
	held := task("t1", web, "n1", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, 1)
	held.NetworksAttachments = []swarm.NetworkAttachment{{Network: front.Network, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.1.5/24")}}}
	put(t, s, held)
	if err := a.RemoveNetwork(t.Context(), "front"); !errdefs.Is(err, errdefs.KindForbidden) || !strings.Contains(err.Error(), "in use by task t1") {
		t.Fatalf("remove while a running task holds it: got %v, want it refused", err)
	}

	// Removing the service marks its task for removal.
	if err := a.RemoveService(t.Context(), web); err != nil {
		t.Fatal(err)
	}
	removed := make(chan error, 1)
	go func() { removed <- a.RemoveNetwork(t.Context(), "front") }()
	select {
	case err := <-removed:
		t.Fatalf("remove returned (%v) while the task being removed still holds the network", err)
	case <-time.After(200 * time.Millisecond):
	}
	held.DesiredState = swarm.TaskStateRemove
	held.Status.State = swarm.TaskStateShutdown
	put(t, s, held)
	select {
	case err := <-removed:
		if err != nil {
			t.Fatalf("remove once the task ended: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("remove did not return once the task holding the network ended")
	}
	if _, err := a.GetNetwork(t.Context(), front.ID); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("the network is still there: %v", err)
	}
}
