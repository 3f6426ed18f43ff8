package lb

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// meshLab is a node's namespace with
//   - up0 10.20.0.1/24, its link to a client namespace (10.20.0.2);
//   - ing0 10.0.0.2/24, the ingress bridge, with the node's ingress address;
//   - nb0 10.30.0.1/24, the node bridge, where its tasks have their default
//     route;
//
// two local tasks, l1 and l2, each on both bridges (eth0 on nb0, eth1 on
// ing0), and two remote tasks r1 and r2 on ing0 only, standing for tasks of
// other nodes: they have no route to the client, so they can answer only
// what was masqueraded to the node's ingress address. Every task runs a
// server on port 80. The node starts with strict rp_filter and no
// forwarding, as a careful host might.
type meshLab struct {
	node, client, l1, l2 *netNS
	mesh                 Mesh
}

var (
	nodeUplink = netip.MustParseAddr("10.20.0.1")
	clientAddr = netip.MustParseAddr("10.20.0.2")
	nodeAddr   = netip.MustParseAddr("10.0.0.2")
	nodeBridge = netip.MustParseAddr("10.30.0.1")
	l1Ingress  = netip.MustParseAddr("10.0.0.5")
	l1Bridge   = netip.MustParseAddr("10.30.0.5")
	l2Ingress  = netip.MustParseAddr("10.0.0.6")
	l2Bridge   = netip.MustParseAddr("10.30.0.6")
	r1Ingress  = netip.MustParseAddr("10.0.0.9")
	r2Ingress  = netip.MustParseAddr("10.0.0.10")
)

func newMeshLab(t *testing.T) *meshLab {
	t.Helper()
	l := &meshLab{node: newNetNS(t, "node"), client: newNetNS(t, "client")}
	l.node.sysctl(t, "net/ipv4/ip_forward", "0")
	l.node.sysctl(t, "net/ipv4/conf/all/rp_filter", "1")
	l.node.sysctl(t, "net/ipv4/conf/default/rp_filter", "1")
	l.node.pair(t, "up0", nodeUplink.String()+"/24", l.client, "eth0", clientAddr.String()+"/24")
	l.node.bridge(t, "ing0", nodeAddr.String()+"/24")
	l.node.bridge(t, "nb0", nodeBridge.String()+"/24")
	task := func(name string, bridge, ingress netip.Addr) *netNS {
		n := newNetNS(t, name)
		if bridge.IsValid() {
			n.plug(t, "eth0", bridge.String()+"/24", l.node, "nb0")
			n.defaultRoute(t, nodeBridge.String())
		}
		n.plug(t, "eth1", ingress.String()+"/24", l.node, "ing0")
		serve(t, n, 80)
		return n
	}
	l.l1 = task("l1", l1Bridge, l1Ingress)
	l.l2 = task("l2", l2Bridge, l2Ingress)
	task("r1", netip.Addr{}, r1Ingress)
	task("r2", netip.Addr{}, r2Ingress)
	l.mesh = Mesh{
		IngressBridge: "ing0",
		NodeBridge:    "nb0",
		NodeAddr:      nodeAddr,
		Ports: []PublishedPort{
			// l1 at its ingress address: its reply comes back by nb0.
			{Protocol: "tcp", Port: 8080, TargetPort: 80, Backends: []Backend{{Addr: l1Ingress, Local: true}, {Addr: r1Ingress}}},
			// l1 at its node bridge address: the reply comes back the way
			// the request went, whatever source address the server picks.
			{Protocol: "udp", Port: 8080, TargetPort: 80, Backends: []Backend{{Addr: l1Bridge, Local: true}, {Addr: r1Ingress}}},
			{Protocol: "tcp", Port: 8081, TargetPort: 80, LocalOnly: true, Backends: []Backend{{Addr: l2Ingress, Local: true}, {Addr: r2Ingress}}},
			{Protocol: "tcp", Port: 8082, TargetPort: 80},
			{Protocol: "udp", Port: 8082, TargetPort: 80},
		},
		HostPorts: []HostPort{
			{Protocol: "tcp", Port: 9090, Target: netip.AddrPortFrom(l2Bridge, 80)},
			{Protocol: "udp", Port: 9090, Target: netip.AddrPortFrom(l2Bridge, 80)},
		},
	}
	l.apply(t, l.mesh)
	return l
}

func (l *meshLab) apply(t *testing.T, m Mesh) {
	t.Helper()
	if err := ApplyMesh(t.Context(), l.node.path, m); err != nil {
		t.Fatal(err)
	}
}

func at(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }

func TestMeshReachesLocalAndRemoteBackends(t *testing.T) {
	requireKernel(t)
	l := newMeshLab(t)
	// The client's address is kept to the local backend; the remote one
	// sees the node's ingress address.
	want := map[string]netip.Addr{"l1": clientAddr, "r1": nodeAddr}
	for _, network := range []string{"tcp", "udp"} {
		got := l.client.spread(t, network, at(nodeUplink, 8080), 200, want)
		t.Logf("%s: 200 connections to %s: %v", network, at(nodeUplink, 8080), got)
	}
	// Any address of the node answers, the ingress one too.
	if err := l.client.RouteAdd(routeVia(t, "10.0.0.0/24", nodeUplink)); err != nil {
		t.Fatal(err)
	}
	l.client.spread(t, "tcp", at(nodeAddr, 8080), 50, want)
}

func TestMeshLocalOnly(t *testing.T) {
	requireKernel(t)
	l := newMeshLab(t)
	l.client.spread(t, "tcp", at(nodeUplink, 8081), 50, map[string]netip.Addr{"l2": clientAddr})
}

func TestMeshWithoutBackendIsRefused(t *testing.T) {
	requireKernel(t)
	l := newMeshLab(t)
	for _, network := range []string{"tcp", "udp"} {
		if _, err := l.client.askNew(t, network, at(nodeUplink, 8082)); !isRefused(err) {
			t.Errorf("%s to port 8082, which has no backend: got %v, want connection refused", network, err)
		}
	}
}

func TestMeshHostPorts(t *testing.T) {
	requireKernel(t)
	l := newMeshLab(t)
	for _, network := range []string{"tcp", "udp"} {
		l.client.spread(t, network, at(nodeUplink, 9090), 10, map[string]netip.Addr{"l2": clientAddr})
	}
	if _, err := l.client.askNew(t, "tcp", at(nodeUplink, 9091)); !isRefused(err) {
		t.Errorf("tcp to port 9091, not listed: got %v, want connection refused by the node", err)
	}
}

// TestMeshFromTheNode connects from the node's own processes: to 127.0.0.1
// (masqueraded, as 127.0.0.0/8 cannot leave the node) and to its own
// addresses (kept for local backends).
func TestMeshFromTheNode(t *testing.T) {
	requireKernel(t)
	l := newMeshLab(t)
	l.node.spread(t, "tcp", at(netip.MustParseAddr("127.0.0.1"), 8080), 50, map[string]netip.Addr{"l1": nodeAddr, "r1": nodeAddr})
	l.node.spread(t, "udp", at(netip.MustParseAddr("127.0.0.1"), 8080), 50, map[string]netip.Addr{"l1": nodeBridge, "r1": nodeAddr})
	l.node.spread(t, "tcp", at(nodeUplink, 8080), 50, map[string]netip.Addr{"l1": nodeUplink, "r1": nodeAddr})
	l.node.spread(t, "tcp", at(netip.MustParseAddr("127.0.0.1"), 9090), 5, map[string]netip.Addr{"l2": nodeBridge})
}

// TestMeshHairpin connects from tasks on the node's bridges to the node's
// published ports: a backend on the client's own link would answer it
// directly, around the DNAT, so these connections are masqueraded.
func TestMeshHairpin(t *testing.T) {
	requireKernel(t)
	l := newMeshLab(t)
	l.l2.spread(t, "tcp", at(nodeBridge, 8080), 50, map[string]netip.Addr{"l1": nodeAddr, "r1": nodeAddr})
	l.l2.spread(t, "udp", at(nodeBridge, 8080), 50, map[string]netip.Addr{"l1": nodeBridge, "r1": nodeAddr})
	l.l1.spread(t, "tcp", at(nodeBridge, 9090), 5, map[string]netip.Addr{"l2": nodeBridge})
	// A task connecting to its own service lands on itself too.
	l.l2.spread(t, "tcp", at(nodeBridge, 8081), 5, map[string]netip.Addr{"l2": nodeAddr})
}

func TestMeshKeepsEstablishedConnections(t *testing.T) {
	requireKernel(t)
	l := newMeshLab(t)
	before := l.node.listTable(t, meshTable)
	want, err := buildMesh(l.mesh)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalize(want.String()), normalize(before)); diff != "" {
		t.Fatalf("the kernel lists other than was built (-built +kernel):\n%s", diff)
	}
	var conns []net.Conn
	for _, network := range []string{"tcp", "udp"} {
		c, err := l.client.dial(t, network, at(nodeUplink, 9090))
		if err != nil {
			t.Fatal(err)
		}
		if a, err := ask(c); err != nil || a.server != "l2" {
			t.Fatalf("%s: got %v, %v, want an answer from l2", network, a, err)
		}
		conns = append(conns, c)
	}

	l.apply(t, l.mesh)
	if after := l.node.listTable(t, meshTable); after != before {
		t.Fatalf("applying the same mesh again changed the table:\n%s\nthen:\n%s", before, after)
	}
	changed := l.mesh
	changed.HostPorts = nil
	changed.Ports = nil
	l.apply(t, changed)
	for _, c := range conns {
		if a, err := ask(c); err != nil || a.server != "l2" {
			t.Fatalf("%s: after the ports went, the connection got %v, %v, want it kept to l2", c.LocalAddr().Network(), a, err)
		}
	}
	if _, err := l.client.askNew(t, "tcp", at(nodeUplink, 9090)); !isRefused(err) {
		t.Fatalf("a new connection to 9090, no longer published: got %v, want connection refused", err)
	}
}

// TestMeshGuardsLoopback shows that the route_localnet the mesh needs does
// not let a task reach the node's services bound to 127.0.0.1: an attacker
// on the node bridge, routing 127.0.0.1 to the node, gets a datagram to
// such a service when route_localnet is on by itself (the control), not
// once the mesh is applied, nor after RemoveMesh.
func TestMeshGuardsLoopback(t *testing.T) {
	requireKernel(t)
	node := newNetNS(t, "node")
	node.bridge(t, "nb0", nodeBridge.String()+"/24")
	node.bridge(t, "ing0", nodeAddr.String()+"/24")
	var service net.PacketConn
	if err := inNamespace(node.path, func() (err error) { service, err = net.ListenPacket("udp4", "127.0.0.1:7777"); return err }); err != nil {
		t.Fatal(err)
	}
	defer service.Close()

	x := newNetNS(t, "x")
	x.plug(t, "eth0", "10.30.0.66/24", node, "nb0")
	for _, dst := range []string{"127.0.0.0/8", "127.0.0.1/32"} {
		r := routeVia(t, dst, netip.Addr{})
		r.Table, r.Type, r.Scope = unix.RT_TABLE_LOCAL, unix.RTN_LOCAL, unix.RT_SCOPE_HOST
		r.LinkIndex = x.link(t, "lo").Attrs().Index
		if err := x.RouteDel(r); err != nil {
			t.Fatalf("delete local route %s: %v", dst, err)
		}
	}
	if err := x.RouteAdd(routeVia(t, "127.0.0.1/32", nodeBridge)); err != nil {
		t.Fatal(err)
	}
	// reaches sends probe from x and says whether the service got it. A
	// datagram that does not come is waited for 2 seconds.
	reaches := func(probe string) bool {
		t.Helper()
		err := inNamespace(x.path, func() error {
			c, err := net.Dial("udp4", "127.0.0.1:7777")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte(probe))
			return err
		})
		if err != nil {
			t.Fatalf("send %s: %v", probe, err)
		}
		service.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 100)
		for {
			n, _, err := service.ReadFrom(buf)
			if err != nil {
				return false
			}
			if string(buf[:n]) == probe {
				return true
			}
		}
	}

	node.sysctl(t, "net/ipv4/conf/nb0/route_localnet", "1")
	if !reaches("control") {
		t.Fatal("control: with route_localnet alone, the attacker's datagram should reach the node's 127.0.0.1:7777")
	}
	m := Mesh{IngressBridge: "ing0", NodeBridge: "nb0", NodeAddr: nodeAddr}
	if err := ApplyMesh(t.Context(), node.path, m); err != nil {
		t.Fatal(err)
	}
	if reaches("with the mesh") {
		t.Fatal("with the mesh applied, the attacker's datagram reached the node's 127.0.0.1:7777")
	}
	if err := RemoveMesh(t.Context(), node.path, m); err != nil {
		t.Fatal(err)
	}
	if got := node.listTable(t, meshTable); got != "" {
		t.Fatalf("after RemoveMesh, nft lists:\n%s", got)
	}
	if reaches("after RemoveMesh") {
		t.Fatal("after RemoveMesh, the attacker's datagram reached the node's 127.0.0.1:7777")
	}
}
