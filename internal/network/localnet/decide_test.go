package localnet

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func TestPlan(t *testing.T) {
	sub := func(subnet, gw, rng string) *network.IPAM {
		c := network.IPAMConfig{}
		if subnet != "" {
			c.Subnet = pfx(subnet)
		}
		if gw != "" {
			c.Gateway = addr(gw)
		}
		if rng != "" {
			c.IPRange = pfx(rng)
		}
		return &network.IPAM{Config: []network.IPAMConfig{c}}
	}
	taken := Taken{
		Subnets: []netip.Prefix{pfx("172.17.0.0/16"), pfx("10.249.0.0/24")},
		Names:   []string{"bridge", "host", "none", "used"},
		Bridges: []string{"lo", "eth0", "mybr"},
	}
	tests := []struct {
		name string
		req  network.CreateRequest
		// want: subnet gateway range bridge
		want    [4]string
		kind    errdefs.Kind
		wantErr string
	}{
		{name: "defaults skip what is taken", req: network.CreateRequest{Name: "a"},
			want: [4]string{"172.18.0.0/16", "172.18.0.1", "invalid Prefix", "br-0123456789ab"}},
		{name: "given subnet, gateway and range", req: network.CreateRequest{Name: "a", Driver: "bridge", IPAM: sub("10.1.2.0/24", "10.1.2.254", "10.1.2.128/25")},
			want: [4]string{"10.1.2.0/24", "10.1.2.254", "10.1.2.128/25", "br-0123456789ab"}},
		{name: "bridge name option", req: network.CreateRequest{Name: "a", Options: map[string]string{OptBridgeName: "mine0"}},
			want: [4]string{"172.18.0.0/16", "172.18.0.1", "invalid Prefix", "mine0"}},
		{name: "no name", req: network.CreateRequest{}, kind: errdefs.KindInvalid, wantErr: "Name:"},
		{name: "bad name", req: network.CreateRequest{Name: "a b"}, kind: errdefs.KindInvalid, wantErr: "invalid network name"},
		{name: "name in use", req: network.CreateRequest{Name: "used"}, kind: errdefs.KindConflict, wantErr: "already exists"},
		{name: "unknown driver", req: network.CreateRequest{Name: "a", Driver: "macvlan"}, kind: errdefs.KindInvalid, wantErr: "Driver:"},
		{name: "ipv6", req: network.CreateRequest{Name: "a", EnableIPv6: new(true)}, kind: errdefs.KindInvalid, wantErr: "EnableIPv6"},
		{name: "overlap", req: network.CreateRequest{Name: "a", IPAM: sub("10.249.0.128/25", "", "")}, kind: errdefs.KindForbidden, wantErr: "overlaps"},
		{name: "not a network address", req: network.CreateRequest{Name: "a", IPAM: sub("10.1.2.3/24", "", "")}, kind: errdefs.KindInvalid, wantErr: "not a network address"},
		{name: "too small", req: network.CreateRequest{Name: "a", IPAM: sub("10.1.2.0/31", "", "")}, kind: errdefs.KindInvalid, wantErr: "IPAM.Config.Subnet"},
		{name: "gateway outside", req: network.CreateRequest{Name: "a", IPAM: sub("10.1.2.0/24", "10.1.3.1", "")}, kind: errdefs.KindInvalid, wantErr: "IPAM.Config.Gateway"},
		{name: "gateway is the broadcast", req: network.CreateRequest{Name: "a", IPAM: sub("10.1.2.0/24", "10.1.2.255", "")}, kind: errdefs.KindInvalid, wantErr: "IPAM.Config.Gateway"},
		{name: "gateway without subnet", req: network.CreateRequest{Name: "a", IPAM: sub("", "10.1.2.1", "")}, kind: errdefs.KindInvalid, wantErr: "needs a subnet"},
		{name: "range outside", req: network.CreateRequest{Name: "a", IPAM: sub("10.1.2.0/24", "", "10.1.0.0/16")}, kind: errdefs.KindInvalid, wantErr: "IPAM.Config.IPRange"},
		{name: "two subnets", req: network.CreateRequest{Name: "a", IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: pfx("10.1.0.0/24")}, {Subnet: pfx("10.2.0.0/24")}}}}, kind: errdefs.KindInvalid, wantErr: "at most one"},
		{name: "other IPAM driver", req: network.CreateRequest{Name: "a", IPAM: &network.IPAM{Driver: "dhcp"}}, kind: errdefs.KindInvalid, wantErr: "IPAM.Driver"},
		{name: "unknown option", req: network.CreateRequest{Name: "a", Options: map[string]string{"x": "1"}}, kind: errdefs.KindInvalid, wantErr: "unknown bridge option x"},
		{name: "icc off", req: network.CreateRequest{Name: "a", Options: map[string]string{OptICC: "false"}}, kind: errdefs.KindInvalid, wantErr: "not supported"},
		{name: "bad mtu", req: network.CreateRequest{Name: "a", Options: map[string]string{OptMTU: "9"}}, kind: errdefs.KindInvalid, wantErr: OptMTU},
		{name: "bridge name in use", req: network.CreateRequest{Name: "a", Options: map[string]string{OptBridgeName: "mybr"}}, kind: errdefs.KindConflict, wantErr: "exists"},
		{name: "bridge name too long", req: network.CreateRequest{Name: "a", Options: map[string]string{OptBridgeName: "abcdefghijklmnop"}}, kind: errdefs.KindInvalid, wantErr: "at most 15"},
		{name: "swarm scope", req: network.CreateRequest{Name: "a", Scope: "swarm"}, kind: errdefs.KindInvalid, wantErr: "Scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Plan(tt.req, testID, DefaultPools, taken)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.Is(err, tt.kind) {
					t.Fatalf("got %v, want a %v error with %q", err, tt.kind, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [4]string{n.Subnet.String(), n.Gateway.String(), n.IPRange.String(), n.Bridge}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFreeSubnet(t *testing.T) {
	var all []netip.Prefix
	for i := 17; i < 32; i++ {
		all = append(all, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	tests := []struct {
		name  string
		taken []netip.Prefix
		want  string
	}{
		{"first", nil, "172.17.0.0/16"},
		{"a route inside a pool subnet", []netip.Prefix{pfx("172.17.5.0/24")}, "172.18.0.0/16"},
		{"a wide route", []netip.Prefix{pfx("172.16.0.0/12")}, "192.168.0.0/20"},
		{"172 all taken", all, "192.168.0.0/20"},
		{"192.168 partly", append(all, pfx("192.168.0.0/19")), "192.168.32.0/20"},
		{"none left", []netip.Prefix{pfx("172.16.0.0/12"), pfx("192.168.0.0/16")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FreeSubnet(DefaultPools, tt.taken)
			if tt.want == "" {
				if err == nil || !errdefs.Is(err, errdefs.KindForbidden) {
					t.Fatalf("got %v, %v; want the pools exhausted", got, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestAddress(t *testing.T) {
	n := &Network{Name: "n", Subnet: pfx("10.1.2.0/29"), Gateway: addr("10.1.2.1"), UserSubnet: true, Endpoints: map[string]*Endpoint{
		"a": {ContainerID: "a", Addr: addr("10.1.2.2")},
		"b": {ContainerID: "b", Addr: addr("10.1.2.4")},
	}}
	auto := n.Clone()
	auto.UserSubnet = false
	ranged := n.Clone()
	ranged.IPRange = pfx("10.1.2.4/30")
	full := n.Clone()
	for i, a := range []string{"10.1.2.3", "10.1.2.5", "10.1.2.6"} {
		full.Endpoints[string(rune('c'+i))] = &Endpoint{Addr: addr(a)}
	}
	tests := []struct {
		name string
		n    *Network
		ctr  string
		want string
		err  string
	}{
		{"lowest free", n, "new", "10.1.2.3", ""},
		{"its own address counts as free", n, "a", "10.1.2.2", ""},
		{"within the range", ranged, "new", "10.1.2.5", ""},
		{"static", n, "new=10.1.2.6", "10.1.2.6", ""},
		{"static in use", n, "new=10.1.2.4", "", "already in use"},
		{"static is the gateway", n, "new=10.1.2.1", "", "already in use"},
		{"static is the broadcast", n, "new=10.1.2.7", "", "not a host address"},
		{"static outside", n, "new=10.1.3.3", "", "not a host address"},
		{"static without a user subnet", auto, "new=10.1.2.6", "", "user configured subnets"},
		{"full", full, "new", "", "no available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctr, want, _ := strings.Cut(tt.ctr, "=")
			var w netip.Addr
			if want != "" {
				w = addr(want)
			}
			got, err := Address(tt.n, ctr, w)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	front := &Network{ID: "f", Name: "front", Subnet: pfx("10.1.0.0/24"), Endpoints: map[string]*Endpoint{
		"web000000000001": {ContainerID: "web000000000001", Addr: addr("10.1.0.3"), Aliases: []string{"www"}, Seq: 2},
		"cli000000000002": {ContainerID: "cli000000000002", Addr: addr("10.1.0.2"), Seq: 3, Links: map[string]string{"db": "web"}},
		"gone00000000003": {ContainerID: "gone00000000003", Addr: addr("10.1.0.9")},
	}}
	back := &Network{ID: "b", Name: "back", Subnet: pfx("10.2.0.0/24"), Internal: true, Endpoints: map[string]*Endpoint{
		"web000000000001": {ContainerID: "web000000000001", Addr: addr("10.2.0.2"), Seq: 1},
	}}
	names := map[string]string{"web000000000001": "web", "cli000000000002": "cli"}
	got := Names([]*Network{front, back}, names)
	var flat []string
	for _, n := range got {
		for _, e := range n.Endpoints {
			flat = append(flat, n.ID+" "+e.Name+" "+strings.Join(e.Aliases, ",")+" "+e.Addr.String())
		}
	}
	want := []string{
		"b web web000000000 10.2.0.2/24",
		"f cli cli000000000 10.1.0.2/24",
		"f web www,web000000000 10.1.0.3/24",
		"links/cli000000000002 db  10.1.0.3/24",
	}
	if d := cmp.Diff(want, flat); d != "" {
		t.Fatalf("names (-want +got):\n%s", d)
	}
	att := Of([]*Network{front, back}, "web000000000001")
	if len(att) != 2 || att[0].Network.Name != "back" {
		t.Fatalf("Of: want back then front, by Seq: %+v", att)
	}
	if c := RouteCandidates(att); len(c) != 2 || c[0] != (RouteCandidate{Network: "back", Internal: true, Ifname: att[0].Endpoint.Ifname, Gateway: back.Gateway, Addr: att[0].Endpoint.Addr}) {
		t.Fatalf("RouteCandidates: %+v", c)
	}
	if got := ResolverNetworks(Of([]*Network{front, back}, "cli000000000002")); !cmp.Equal(got, []string{"links/cli000000000002", "f"}) {
		t.Fatalf("ResolverNetworks: %v", got)
	}
	s := Settings(att)
	if s["back"].Gateway != back.Gateway || s["front"].Gateway != front.Gateway || s["front"].IPPrefixLen != 24 || s["front"].Aliases[0] != "www" {
		t.Fatalf("Settings: %+v %+v", s["back"], s["front"])
	}
}

// TestDefaultRoute checks the choice of the interface holding a
// container's default route against what dockerd 20.10 did with the same
// networks (docker exec C ip route after each connect and disconnect).
func TestDefaultRoute(t *testing.T) {
	net := func(name string) RouteCandidate { return RouteCandidate{Network: name, Ifname: "if-" + name} }
	internal := func(name string) RouteCandidate { c := net(name); c.Internal = true; return c }
	wayOut := RouteCandidate{Network: "bridge", WayOut: true, Ifname: "if-wayout"}
	for _, tt := range []struct {
		name  string
		cands []RouteCandidate
		want  string // Ifname; empty for no route
	}{
		{"run on a, b connected: a sorts first", []RouteCandidate{net("a"), net("b")}, "if-a"},
		{"run on b, a connected: the route moves to a", []RouteCandidate{net("b"), net("a")}, "if-a"},
		{"a disconnected: b", []RouteCandidate{net("b")}, "if-b"},
		{"default bridge, a connected: a sorts before bridge", []RouteCandidate{net("bridge"), net("a")}, "if-a"},
		{"default bridge, zz connected: bridge keeps it", []RouteCandidate{net("bridge"), net("zz")}, "if-bridge"},
		{"internal i, b connected: b", []RouteCandidate{internal("i"), net("b")}, "if-b"},
		{"internal i alone: i, as dockerd gives it one", []RouteCandidate{internal("i")}, "if-i"},
		{"internal a before internal b", []RouteCandidate{internal("b"), internal("a")}, "if-a"},
		{"run on an overlay: the way out", []RouteCandidate{wayOut}, "if-wayout"},
		{"overlay, zz connected: zz, not the way out", []RouteCandidate{wayOut, net("zz")}, "if-zz"},
		{"overlay, internal i connected: i, before the way out", []RouteCandidate{wayOut, internal("i")}, "if-i"},
		{"no candidate: no route", nil, ""},
	} {
		got, ok := DefaultRoute(tt.cands)
		if ok != (tt.want != "") || got.Ifname != tt.want {
			t.Errorf("%s: got %q %v, want %q", tt.name, got.Ifname, ok, tt.want)
		}
	}
}

func TestNextIfname(t *testing.T) {
	// Sequences dockerd 20.10 gave, side by side (docs/NETWORKING.md).
	for _, tt := range []struct {
		name      string
		next      int
		used      []string
		want      string
		wantAfter int
	}{
		{"a new container's first", 0, nil, "eth0", 1},
		{"the next after eth0", 1, []string{"eth0"}, "eth1", 2},
		{"eth1 was disconnected: not given again", 2, []string{"eth0"}, "eth2", 3},
		{"eth0 was disconnected (default bridge): the next is eth1", 1, nil, "eth1", 2},
		{"a container from before the count was kept: above its highest", 0, []string{"eth0", "eth2"}, "eth3", 4},
		{"names that are not ethN do not count", 1, []string{"lo", "ethX", "wg0"}, "eth1", 2},
	} {
		got, after := NextIfname(tt.next, tt.used)
		if got != tt.want || after != tt.wantAfter {
			t.Errorf("%s: NextIfname(%d, %v) = %s, %d; want %s, %d", tt.name, tt.next, tt.used, got, after, tt.want, tt.wantAfter)
		}
	}
}

func TestNeedsWayOut(t *testing.T) {
	// dockerd 20.10's outcomes, side by side (docs/NETWORKING.md).
	local := []RouteCandidate{{Network: "n1", Ifname: "eth0"}}
	internalLocal := []RouteCandidate{{Network: "vault", Internal: true, Ifname: "eth0"}}
	for _, tt := range []struct {
		name     string
		overlays []bool
		locals   []RouteCandidate
		onBridge bool
		want     bool
	}{
		{"run on an overlay", []bool{false}, nil, false, true},
		{"an overlay and a local network: the local one is the way out", []bool{false}, local, false, false},
		{"an overlay and the default bridge", []bool{false}, nil, true, false},
		{"an overlay and an internal local network only", []bool{false}, internalLocal, false, true},
		{"an internal overlay only", []bool{true}, nil, false, false},
		{"no overlay", nil, local, false, false},
		{"nothing at all", nil, nil, false, false},
	} {
		if got := NeedsWayOut(tt.overlays, tt.locals, tt.onBridge); got != tt.want {
			t.Errorf("%s: NeedsWayOut = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIfindexFloor(t *testing.T) {
	// Kept before eth2 goes, the count stays above it.
	if got := IfindexFloor(0, []string{"eth0", "eth2"}); got != 3 {
		t.Errorf("IfindexFloor(0, [eth0 eth2]) = %d, want 3", got)
	}
	if got := IfindexFloor(5, []string{"eth0"}); got != 5 {
		t.Errorf("IfindexFloor(5, [eth0]) = %d, want 5", got)
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := &Network{ID: testID, Name: "a", Subnet: pfx("10.1.0.0/24"), Endpoints: map[string]*Endpoint{"c": {ContainerID: "c", Addr: addr("10.1.0.2")}}}
	if err := s.Put(n); err != nil {
		t.Fatal(err)
	}
	n.Endpoints["d"] = &Endpoint{}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{testID, "a", testID[:5]} {
		got, ok, err := s2.Find(ref)
		if err != nil || !ok || len(got.Endpoints) != 1 || got.Endpoints["c"].Addr != addr("10.1.0.2") {
			t.Fatalf("Find(%s) after reopening: %+v %v %v", ref, got, ok, err)
		}
	}
	if _, ok, _ := s2.Find("b"); ok {
		t.Fatal("found a network that is not there")
	}
	if err := s2.Delete(testID); err != nil {
		t.Fatal(err)
	}
	if s3, _ := Open(dir); len(s3.All()) != 0 {
		t.Fatal("a deleted network came back")
	}
}
