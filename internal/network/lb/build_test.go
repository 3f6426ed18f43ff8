package lb

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestBuildVIPsRejectsBadInput(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("10.0.1.5")
	for _, tt := range []struct {
		name string
		vips []VIP
		want string // in the error message
	}{
		{"no address", []VIP{{}}, "not an IPv4 address"},
		{"IPv6 VIP", []VIP{{Addr: netip.MustParseAddr("fd00::1")}}, `"fd00::1" is not an IPv4 address`},
		{"IPv6 backend", []VIP{{Addr: a, Backends: []netip.Addr{netip.MustParseAddr("fd00::5")}}}, "10.0.1.2: backends"},
		{"VIP twice", []VIP{{Addr: a}, {Addr: a}}, "10.0.1.2 is listed twice"},
		{"backend twice", []VIP{{Addr: a, Backends: []netip.Addr{b, b}}}, "backends: 10.0.1.5 is listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildVIPs(tt.vips)
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an Invalid error saying %q", err, tt.want)
			}
		})
	}
}

func TestBuildMeshRejectsBadInput(t *testing.T) {
	local := Backend{Addr: netip.MustParseAddr("10.0.0.5"), Local: true}
	remote := Backend{Addr: netip.MustParseAddr("10.0.0.5")}
	port := func(proto string, p uint16, backends ...Backend) PublishedPort {
		return PublishedPort{Protocol: proto, Port: p, TargetPort: 80, Backends: backends}
	}
	base := Mesh{IngressBridge: "ing0", NodeBridge: "nb0", NodeAddr: netip.MustParseAddr("10.0.0.2")}
	with := func(f func(*Mesh)) Mesh { m := base; f(&m); return m }
	for _, tt := range []struct {
		name string
		mesh Mesh
		want string
	}{
		{"unknown protocol", with(func(m *Mesh) { m.Ports = []PublishedPort{port("icmp", 80)} }), `protocol "icmp" is not tcp, udp or sctp`},
		{"port 0", with(func(m *Mesh) { m.Ports = []PublishedPort{port("tcp", 0)} }), "port 0 cannot be published"},
		{"target port 0", with(func(m *Mesh) {
			m.Ports = []PublishedPort{{Protocol: "tcp", Port: 80}}
		}), "port 80/tcp: target port 0"},
		{"port twice", with(func(m *Mesh) { m.Ports = []PublishedPort{port("tcp", 80), port("tcp", 80)} }), "80/tcp is already published by port 80/tcp"},
		{"host port on a published port", with(func(m *Mesh) {
			m.Ports = []PublishedPort{port("udp", 53)}
			m.HostPorts = []HostPort{{Protocol: "udp", Port: 53, Target: netip.MustParseAddrPort("172.29.0.5:53")}}
		}), "host port 53/udp: 53/udp is already published"},
		{"host port on every address and on one", with(func(m *Mesh) {
			m.HostPorts = []HostPort{
				{Protocol: "tcp", Port: 8080, Target: netip.MustParseAddrPort("172.29.0.5:80")},
				{Protocol: "tcp", Port: 8080, HostIP: netip.MustParseAddr("127.0.0.1"), Target: netip.MustParseAddrPort("172.29.0.6:80")},
			}
		}), "host port 127.0.0.1:8080/tcp: 8080/tcp is already published on that address"},
		{"host port twice on one address", with(func(m *Mesh) {
			m.HostPorts = []HostPort{
				{Protocol: "tcp", Port: 8080, HostIP: netip.MustParseAddr("10.0.0.2"), Target: netip.MustParseAddrPort("172.29.0.5:80")},
				{Protocol: "tcp", Port: 8080, HostIP: netip.MustParseAddr("10.0.0.2"), Target: netip.MustParseAddrPort("172.29.0.6:80")},
			}
		}), "already published on that address"},
		{"host port on an IPv6 address", with(func(m *Mesh) {
			m.HostPorts = []HostPort{{Protocol: "tcp", Port: 8080, HostIP: netip.MustParseAddr("::1"), Target: netip.MustParseAddrPort("172.29.0.5:80")}}
		}), `host address "::1" is not an IPv4 address`},
		{"host port without target", with(func(m *Mesh) {
			m.HostPorts = []HostPort{{Protocol: "tcp", Port: 8081}}
		}), "host port 8081/tcp: target"},
		{"backend twice", with(func(m *Mesh) { m.Ports = []PublishedPort{port("tcp", 80, local, local)} }), "10.0.0.5 is listed twice"},
		{"backend both local and remote", with(func(m *Mesh) {
			m.Ports = []PublishedPort{port("tcp", 80, local), port("tcp", 81, remote)}
		}), "backend 10.0.0.5 is local for one port and remote for another"},
		{"IPv6 node address", with(func(m *Mesh) { m.NodeAddr = netip.MustParseAddr("fd00::2") }), "node address fd00::2"},
		{"no ingress bridge", with(func(m *Mesh) { m.IngressBridge = ""; m.Ports = []PublishedPort{port("tcp", 80)} }), "ingress bridge: required"},
		{"bridge name with a slash", with(func(m *Mesh) { m.NodeBridge = "../all" }), `node bridge: "../all" is not an interface name`},
		{"bridge name too long", with(func(m *Mesh) { m.IngressBridge = "a-very-long-name0" }), "at most 15 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildMesh(tt.mesh)
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an Invalid error saying %q", err, tt.want)
			}
		})
	}
}

func TestMeshSysctls(t *testing.T) {
	got := meshSysctls(Mesh{IngressBridge: "ing0", NodeBridge: "nb0"})
	want := []sysctl{
		{"net/ipv4/ip_forward", "1"},
		{"net/ipv4/conf/ing0/route_localnet", "1"},
		{"net/ipv4/conf/nb0/route_localnet", "1"},
		{"net/ipv4/conf/nb0/rp_filter", "2"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(sysctl{})); diff != "" {
		t.Errorf("meshSysctls (-want +got):\n%s", diff)
	}
	off := routeLocalnetOff(Mesh{IngressBridge: "ing0", NodeBridge: "nb0"})
	wantOff := []sysctl{{"net/ipv4/conf/ing0/route_localnet", "0"}, {"net/ipv4/conf/nb0/route_localnet", "0"}}
	if diff := cmp.Diff(wantOff, off, cmp.AllowUnexported(sysctl{})); diff != "" {
		t.Errorf("routeLocalnetOff (-want +got):\n%s", diff)
	}
}
