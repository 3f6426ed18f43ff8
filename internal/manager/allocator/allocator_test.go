package allocator

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

func network(id, name, subnet string, mods ...func(*store.Network)) *store.Network {
	n := &store.Network{Network: swarm.Network{ID: id, Spec: swarm.NetworkSpec{Annotations: swarm.Annotations{Name: name}}}}
	p := netip.MustParsePrefix(subnet)
	swarmnet.Record(n, swarmnet.Allocation{Subnet: p, Gateway: p.Addr().Next(), VNI: 4096 + uint32(len(id))})
	for _, m := range mods {
		m(n)
	}
	return n
}

func ingress(n *store.Network) { n.Spec.Ingress = true }

func onNetworks(targets ...string) func(*store.Service) {
	return func(s *store.Service) {
		for _, t := range targets {
			s.Spec.TaskTemplate.Networks = append(s.Spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: t})
		}
	}
}

func publish(port uint32) func(*store.Service) {
	return func(s *store.Service) {
		s.Spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: port, PublishMode: swarm.PortConfigPublishModeIngress}}}
	}
}

func dnsrr(s *store.Service) {
	s.Spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}
}

func withVIP(netID, addr string) func(*store.Service) {
	return func(s *store.Service) {
		s.Endpoint.VirtualIPs = append(s.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: netID, Addr: netip.MustParsePrefix(addr)})
	}
}

func attached(n *store.Network, addr string) func(*store.Task) {
	return func(t *store.Task) {
		t.NetworksAttachments = append(t.NetworksAttachments, swarm.NetworkAttachment{Network: n.Network, Addresses: []netip.Prefix{netip.MustParsePrefix(addr)}})
	}
}

// summary renders a result as lines that name what each object got.
func summary(res Result) []string {
	var out []string
	for _, s := range res.Services {
		var vips []string
		for _, v := range s.Endpoint.VirtualIPs {
			vips = append(vips, v.NetworkID+"="+v.Addr.String())
		}
		out = append(out, fmt.Sprintf("service %s vips [%s]", s.ID, strings.Join(vips, " ")))
	}
	for _, n := range res.Nodes {
		var as []string
		for _, a := range n.NetworkAttachments {
			as = append(as, a.Network.ID+"="+a.Addresses[0].String())
		}
		line := fmt.Sprintf("node %s [%s]", n.ID, strings.Join(as, " "))
		if n.Tunnel != nil {
			line += " tunnel " + n.Tunnel.Addr.String()
		}
		out = append(out, line)
	}
	for _, t := range res.Tasks {
		if t.Status.Err != "" {
			out = append(out, fmt.Sprintf("task %s %s: %s", t.ID, t.Status.State, t.Status.Err))
			continue
		}
		var as []string
		for _, a := range t.NetworksAttachments {
			as = append(as, a.Network.ID+"="+a.Addresses[0].String())
		}
		out = append(out, fmt.Sprintf("task %s %s [%s]", t.ID, t.Status.State, strings.Join(as, " ")))
	}
	return out
}

func TestDecide(t *testing.T) {
	front := network("front", "front", "10.0.1.0/24")
	tiny := network("tiny", "tiny", "10.0.9.0/30") // room for one address beside the gateway
	ing := network("ingress", "ingress", "10.0.0.0/24", ingress)
	web := ct.Service("web", "web", 2, onNetworks("front"), withVIP("front", "10.0.1.2/24"))
	tests := []struct {
		name string
		s    State
		want []string
	}{
		{
			name: "new tasks get an address on each network and go pending",
			s:    State{Networks: []*store.Network{front}, Services: []*store.Service{web}, Tasks: []*store.Task{ct.Task("t1", web, 1, ""), ct.Task("t2", web, 2, "")}},
			want: []string{"task t1 pending [front=10.0.1.3/24]", "task t2 pending [front=10.0.1.4/24]"},
		},
		{
			name: "a network named by its name resolves",
			s: State{Networks: []*store.Network{front}, Services: []*store.Service{ct.Service("db", "db", 1, onNetworks("front"), withVIP("front", "10.0.1.2/24"))},
				Tasks: []*store.Task{ct.Task("t1", ct.Service("db", "db", 1, onNetworks("front")), 1, "")}},
			want: []string{"task t1 pending [front=10.0.1.3/24]"},
		},
		{
			name: "a task without networks just goes pending",
			s:    State{Services: []*store.Service{ct.Service("plain", "plain", 1)}, Tasks: []*store.Task{ct.Task("t1", ct.Service("plain", "plain", 1), 1, "")}},
			want: []string{"task t1 pending []"},
		},
		{
			name: "publishing in ingress mode attaches to ingress first and gives a VIP there",
			s: State{Networks: []*store.Network{front, ing}, Services: []*store.Service{ct.Service("web", "web", 1, onNetworks("front"), publish(8080), withVIP("front", "10.0.1.2/24"))},
				Tasks: []*store.Task{ct.Task("t1", web, 1, "")}},
			want: []string{"service web vips [ingress=10.0.0.2/24 front=10.0.1.2/24]", "task t1 pending [ingress=10.0.0.3/24 front=10.0.1.3/24]"},
		},
		{
			name: "addresses held by tasks, VIPs and nodes are not given again; ended tasks' are",
			s: State{Networks: []*store.Network{front}, Services: []*store.Service{web},
				Nodes: []*store.Node{ct.Node("n1")},
				Tasks: []*store.Task{
					ct.Task("run", web, 1, "n1", attached(front, "10.0.1.3/24")),
					ct.Task("dead", web, 2, "n1", attached(front, "10.0.1.4/24"), ct.State(swarm.TaskStateFailed, ct.Epoch)),
					ct.Task("t2", web, 2, ""),
				}},
			want: []string{"task t2 pending [front=10.0.1.4/24]"},
		},
		{
			name: "a full network leaves the task new with an error naming the network",
			s: State{Networks: []*store.Network{tiny}, Services: []*store.Service{ct.Service("s", "s", 2, onNetworks("tiny"), dnsrr)},
				Tasks: []*store.Task{ct.Task("t1", ct.Service("s", "s", 2, onNetworks("tiny")), 1, ""), ct.Task("t2", ct.Service("s", "s", 2, onNetworks("tiny")), 2, "")}},
			want: []string{"task t1 pending [tiny=10.0.9.2/30]", "task t2 new: could not allocate an IP address on network tiny (tiny): no available IPv4 addresses left in 10.0.9.0/30"},
		},
		{
			name: "a task already told its error is not written again",
			s: State{Networks: []*store.Network{tiny}, Services: []*store.Service{ct.Service("s", "s", 1, onNetworks("tiny"), dnsrr)},
				Tasks: []*store.Task{
					ct.Task("run", ct.Service("s", "s", 1), 1, "n1", attached(tiny, "10.0.9.2/30")),
					ct.Task("t2", ct.Service("s", "s", 1, onNetworks("tiny")), 1, "", func(t *store.Task) {
						t.Status.Err = "could not allocate an IP address on network tiny (tiny): no available IPv4 addresses left in 10.0.9.0/30"
					})}},
		},
		{
			name: "a reference to no network is an error on the task",
			s:    State{Services: []*store.Service{ct.Service("s", "s", 1, onNetworks("gone"))}, Tasks: []*store.Task{ct.Task("t1", ct.Service("s", "s", 1, onNetworks("gone")), 1, "")}},
			want: []string{"task t1 new: network gone not found"},
		},
		{
			name: "dnsrr services have no VIP, and lose the one they had",
			s:    State{Networks: []*store.Network{front}, Services: []*store.Service{ct.Service("s", "s", 1, onNetworks("front"), dnsrr, withVIP("front", "10.0.1.2/24"))}},
			want: []string{"service s vips []"},
		},
		{
			name: "a VIP on a network the service left is dropped, a new network gets one",
			s: State{Networks: []*store.Network{front, network("back", "back", "10.0.2.0/24")},
				Services: []*store.Service{ct.Service("s", "s", 1, onNetworks("back"), withVIP("front", "10.0.1.2/24"))}},
			want: []string{"service s vips [back=10.0.2.2/24]"},
		},
		{
			name: "nodes get an ingress address, and a tunnel address once they sent a key",
			s: State{Networks: []*store.Network{ing}, Nodes: []*store.Node{
				ct.Node("n1"),
				ct.Node("n2", func(n *store.Node) { n.Tunnel = &store.Tunnel{PublicKey: "k2"} }),
				ct.Node("n3", func(n *store.Node) {
					n.NetworkAttachments = []swarm.NetworkAttachment{{Network: ing.Network, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}
				}),
			}},
			want: []string{"node n1 [ingress=10.0.0.3/24]", "node n2 [ingress=10.0.0.4/24] tunnel 198.18.0.1"},
		},
		{
			name: "a node's attachment to a network that is gone is dropped",
			s: State{Nodes: []*store.Node{ct.Node("n1", func(n *store.Node) {
				n.NetworkAttachments = []swarm.NetworkAttachment{{Network: ing.Network, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}
			})}},
			want: []string{"node n1 []"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(Decide(tt.s, ct.Epoch))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestDecideBoundsAPass(t *testing.T) {
	big := network("big", "big", "10.1.0.0/16")
	svc := ct.Service("s", "s", 1, onNetworks("big"), dnsrr)
	s := State{Networks: []*store.Network{big}, Services: []*store.Service{svc}}
	for i := range MaxTasksPerPass + 10 {
		s.Tasks = append(s.Tasks, ct.Task(fmt.Sprintf("t%05d", i), svc, i+1, ""))
	}
	res := Decide(s, ct.Epoch)
	if len(res.Tasks) != MaxTasksPerPass || !res.More {
		t.Fatalf("got %d tasks (more %v), want %d and more", len(res.Tasks), res.More, MaxTasksPerPass)
	}
	seen := map[netip.Prefix]string{}
	for _, task := range res.Tasks {
		a := task.NetworksAttachments[0].Addresses[0]
		if other, dup := seen[a]; dup {
			t.Fatalf("%s given to %s and %s", a, other, task.ID)
		}
		seen[a] = task.ID
	}
}
