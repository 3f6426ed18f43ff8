package view

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

func overlay(id, name, subnet string, vni uint32, mods ...func(*store.Network)) *store.Network {
	n := &store.Network{Network: swarm.Network{ID: id, Spec: swarm.NetworkSpec{Annotations: swarm.Annotations{Name: name}}}}
	p := netip.MustParsePrefix(subnet)
	swarmnet.Record(n, swarmnet.Allocation{Subnet: p, Gateway: p.Addr().Next(), VNI: vni})
	for _, m := range mods {
		m(n)
	}
	return n
}

func node(id, addr string, mods ...func(*store.Node)) *store.Node {
	n := &store.Node{Node: swarm.Node{ID: id, Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: addr}}}
	for _, m := range mods {
		m(n)
	}
	return n
}

func task(id, svc string, slot int, nodeID string, state swarm.TaskState, attach ...swarm.NetworkAttachment) *store.Task {
	return &store.Task{Task: swarm.Task{ID: id, ServiceID: svc, Slot: slot, NodeID: nodeID, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: state}, NetworksAttachments: attach}}
}

func on(n *store.Network, addr string) swarm.NetworkAttachment {
	return swarm.NetworkAttachment{Network: n.Network, Addresses: []netip.Prefix{netip.MustParsePrefix(addr)}}
}

func TestForNode(t *testing.T) {
	ingress := overlay("ing", "ingress", "10.0.0.0/24", 4096, func(n *store.Network) { n.Spec.Ingress = true })
	front := overlay("front", "front", "10.0.1.0/24", 4097, func(n *store.Network) {
		n.Spec.DriverConfiguration = &swarm.Driver{Name: "overlay", Options: map[string]string{"encrypted": ""}}
	})
	back := overlay("back", "back", "10.0.2.0/24", 4098)
	web := &store.Service{Service: swarm.Service{ID: "web", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web", Labels: map[string]string{LocalOnlyLabel: "true"}},
		TaskTemplate: swarm.TaskSpec{Networks: []swarm.NetworkAttachmentConfig{{Target: "front", Aliases: []string{"www"}}}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeIngress}}},
	}, Endpoint: swarm.Endpoint{
		Ports:      []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeIngress}},
		VirtualIPs: []swarm.EndpointVirtualIP{{NetworkID: "ing", Addr: netip.MustParsePrefix("10.0.0.2/24")}, {NetworkID: "front", Addr: netip.MustParsePrefix("10.0.1.2/24")}},
	}}}
	db := &store.Service{Service: swarm.Service{ID: "db", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "db"},
		TaskTemplate: swarm.TaskSpec{Networks: []swarm.NetworkAttachmentConfig{{Target: "back"}}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}}}
	withIngress := func(addr string) func(*store.Node) {
		return func(n *store.Node) { n.NetworkAttachments = []swarm.NetworkAttachment{on(ingress, addr)} }
	}
	in := Input{
		Cluster:  &store.Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{DataPathPort: 7789}}},
		Networks: []*store.Network{ingress, front, back},
		Services: []*store.Service{web, db},
		Nodes: []*store.Node{
			node("n1", "192.168.1.1", withIngress("10.0.0.10/24"), func(n *store.Node) {
				n.Tunnel = &store.Tunnel{PublicKey: "key1", Addr: netip.MustParseAddr("198.18.0.1")}
			}),
			node("n2", "192.168.1.2", withIngress("10.0.0.11/24"), func(n *store.Node) {
				n.DataPathAddr = "172.16.0.2"
				n.Tunnel = &store.Tunnel{PublicKey: "key2", Addr: netip.MustParseAddr("198.18.0.2")}
			}),
			node("n3", "192.168.1.3", withIngress("10.0.0.12/24")),
			node("down", "192.168.1.4", func(n *store.Node) { n.Status.State = swarm.NodeStateDown }),
		},
		Tasks: []*store.Task{
			task("w1", "web", 1, "n1", swarm.TaskStateRunning, on(ingress, "10.0.0.3/24"), on(front, "10.0.1.3/24")),
			task("w2", "web", 2, "n2", swarm.TaskStateStarting, on(ingress, "10.0.0.4/24"), on(front, "10.0.1.4/24")),
			task("old", "web", 1, "n2", swarm.TaskStateShutdown, on(ingress, "10.0.0.5/24"), on(front, "10.0.1.5/24")),
			task("unplaced", "web", 3, "", swarm.TaskStatePending, on(ingress, "10.0.0.6/24"), on(front, "10.0.1.6/24")),
			task("d1", "db", 1, "n3", swarm.TaskStateRunning, on(back, "10.0.2.3/24")),
		},
	}
	c := Build(in)

	ingressPorts := web.Endpoint.Ports
	wantIngress := func(self string, peers []Peer) Network {
		addrs := map[string]string{"n1": "10.0.0.10/24", "n2": "10.0.0.11/24", "n3": "10.0.0.12/24"}
		return Network{
			ID: "ing", Name: "ingress", VNI: 4096, Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
			Ingress: true, NodeAddr: netip.MustParsePrefix(addrs[self]), Peers: peers,
			Services: []Service{{ID: "web", Name: "web", Mode: swarm.ResolutionModeVIP, VIP: netip.MustParseAddr("10.0.0.2"), Ports: ingressPorts, LocalOnly: true}},
			Endpoints: []Endpoint{
				{TaskID: "w1", Name: "web.1.w1", ServiceID: "web", NodeID: "n1", Addr: netip.MustParsePrefix("10.0.0.3/24"), Running: true},
				{TaskID: "w2", Name: "web.2.w2", ServiceID: "web", NodeID: "n2", Addr: netip.MustParsePrefix("10.0.0.4/24")},
			},
		}
	}
	frontEndpoints := []Endpoint{
		{TaskID: "w1", Name: "web.1.w1", ServiceID: "web", NodeID: "n1", Addr: netip.MustParsePrefix("10.0.1.3/24"), Running: true},
		{TaskID: "w2", Name: "web.2.w2", ServiceID: "web", NodeID: "n2", Addr: netip.MustParsePrefix("10.0.1.4/24")},
	}
	frontNet := func(peers []Peer) Network {
		return Network{
			ID: "front", Name: "front", VNI: 4097, Subnet: netip.MustParsePrefix("10.0.1.0/24"), Gateway: netip.MustParseAddr("10.0.1.1"),
			Encrypted: true, Peers: peers,
			Services:  []Service{{ID: "web", Name: "web", Aliases: []string{"www"}, Mode: swarm.ResolutionModeVIP, VIP: netip.MustParseAddr("10.0.1.2")}},
			Endpoints: frontEndpoints,
		}
	}
	p1 := Peer{NodeID: "n1", Addr: netip.MustParseAddr("192.168.1.1")}
	p2 := Peer{NodeID: "n2", Addr: netip.MustParseAddr("172.16.0.2")}
	p3 := Peer{NodeID: "n3", Addr: netip.MustParseAddr("192.168.1.3")}
	withAddr := func(p Peer, a string) Peer { p.NodeAddr = netip.MustParseAddr(a); return p }
	withTunnel := func(p Peer, key, a string) Peer {
		p.Tunnel = &Tunnel{PublicKey: key, Addr: netip.MustParseAddr(a)}
		return p
	}

	tests := []struct {
		node string
		want *Node
	}{
		{"n1", &Node{NodeID: "n1", DataPathPort: 7789, Tunnel: &Tunnel{PublicKey: "key1", Addr: netip.MustParseAddr("198.18.0.1")}, Networks: []Network{
			frontNet([]Peer{withTunnel(p2, "key2", "198.18.0.2")}),
			wantIngress("n1", []Peer{withAddr(p2, "10.0.0.11"), withAddr(p3, "10.0.0.12")}),
		}}},
		{"n3", &Node{NodeID: "n3", DataPathPort: 7789, Networks: []Network{
			{ID: "back", Name: "back", VNI: 4098, Subnet: netip.MustParsePrefix("10.0.2.0/24"), Gateway: netip.MustParseAddr("10.0.2.1"),
				Services:  []Service{{ID: "db", Name: "db", Mode: swarm.ResolutionModeDNSRR}},
				Endpoints: []Endpoint{{TaskID: "d1", Name: "db.1.d1", ServiceID: "db", NodeID: "n3", Addr: netip.MustParsePrefix("10.0.2.3/24"), Running: true}}},
			wantIngress("n3", []Peer{withAddr(p1, "10.0.0.10"), withAddr(p2, "10.0.0.11")}),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, c.ForNode(tt.node), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("view of %s (-want +got):\n%s", tt.node, diff)
			}
		})
	}
}

// A plain container's attachment is an endpoint of its network, named
// as the container with its own aliases, and makes its node a member.
func TestAttachmentEndpoint(t *testing.T) {
	shared := overlay("shared", "shared", "10.0.7.0/24", 4200, func(n *store.Network) { n.Spec.Attachable = true })
	att := task("a1", "", 0, "n2", swarm.TaskStateRunning, on(shared, "10.0.7.9/24"))
	att.Annotations.Name = "c1"
	att.Spec = swarm.TaskSpec{
		NetworkAttachmentSpec: &swarm.NetworkAttachmentSpec{ContainerID: "cid1"},
		Networks:              []swarm.NetworkAttachmentConfig{{Target: "shared", Aliases: []string{"one"}}},
	}
	svcTask := task("p1", "peer", 1, "n1", swarm.TaskStateRunning, on(shared, "10.0.7.3/24"))
	svcTask.Spec.Networks = []swarm.NetworkAttachmentConfig{{Target: "shared", Aliases: []string{"svc-alias"}}}
	c := Build(Input{
		Networks: []*store.Network{shared},
		Nodes:    []*store.Node{node("n1", "192.168.1.1"), node("n2", "192.168.1.2")},
		Tasks:    []*store.Task{svcTask, att},
	})
	v := c.ForNode("n1")
	if len(v.Networks) != 1 {
		t.Fatalf("n1 sees networks %+v, want shared", v.Networks)
	}
	want := []Endpoint{
		{TaskID: "p1", Name: "peer.1.p1", ServiceID: "peer", NodeID: "n1", Addr: netip.MustParsePrefix("10.0.7.3/24"), Running: true},
		{TaskID: "a1", Name: "c1", NodeID: "n2", Addr: netip.MustParsePrefix("10.0.7.9/24"), Aliases: []string{"one"}, Running: true},
	}
	if diff := cmp.Diff(want, v.Networks[0].Endpoints, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if p := v.Networks[0].Peers; len(p) != 1 || p[0].NodeID != "n2" {
		t.Errorf("n1's peers on shared are %+v, want n2, the container's node", p)
	}
}
