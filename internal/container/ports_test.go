package container

import (
	"cmp"
	"net/netip"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
)

var (
	tcp80  = network.MustParsePort("80/tcp")
	tcp81  = network.MustParsePort("81/tcp")
	udp53  = network.MustParsePort("53/udp")
	local1 = netip.MustParseAddr("127.0.0.1")
)

func TestPortRequests(t *testing.T) {
	tests := []struct {
		name    string
		host    containertypes.HostConfig
		exposed network.PortSet
		want    []PortRequest
		err     string
	}{
		{
			name: "one port, any host port, a range, a host IP",
			host: containertypes.HostConfig{PortBindings: network.PortMap{
				tcp80: {{HostPort: "8080"}, {HostIP: local1, HostPort: "9000-9010"}},
				udp53: {{}},
				tcp81: {{HostIP: netip.IPv4Unspecified(), HostPort: "8081"}},
			}},
			want: []PortRequest{
				{Port: udp53},
				{Port: tcp80, Lo: 8080, Hi: 8080},
				{Port: tcp80, HostIP: local1, Lo: 9000, Hi: 9010},
				{Port: tcp81, Lo: 8081, Hi: 8081},
			},
		},
		{
			name:    "publish all adds the exposed ports without a binding",
			host:    containertypes.HostConfig{PublishAllPorts: true, PortBindings: network.PortMap{tcp80: {{HostPort: "8080"}}}},
			exposed: network.PortSet{tcp80: {}, tcp81: {}},
			want:    []PortRequest{{Port: tcp80, Lo: 8080, Hi: 8080}, {Port: tcp81}},
		},
		{name: "host port not a number", host: containertypes.HostConfig{PortBindings: network.PortMap{tcp80: {{HostPort: "web"}}}},
			err: `invalid host port "web" for port 80/tcp: "web" is not a port number from 1 to 65535`},
		{name: "host port too large", host: containertypes.HostConfig{PortBindings: network.PortMap{tcp80: {{HostPort: "70000"}}}},
			err: `invalid host port "70000" for port 80/tcp`},
		{name: "host port 0", host: containertypes.HostConfig{PortBindings: network.PortMap{tcp80: {{HostPort: "0"}}}},
			err: `invalid host port "0" for port 80/tcp`},
		{name: "range backwards", host: containertypes.HostConfig{PortBindings: network.PortMap{tcp80: {{HostPort: "9000-8000"}}}},
			err: "the range ends before it starts"},
		{name: "IPv6 host IP", host: containertypes.HostConfig{PortBindings: network.PortMap{tcp80: {{HostIP: netip.MustParseAddr("::1"), HostPort: "80"}}}},
			err: "only IPv4 addresses can be bound"},
		{name: "container port 0", host: containertypes.HostConfig{PortBindings: network.PortMap{network.MustParsePort("0/tcp"): {{}}}},
			err: "invalid port specification"},
		{name: "unknown protocol", host: containertypes.HostConfig{PortBindings: network.PortMap{network.MustParsePort("80/xtp"): {{}}}},
			err: "the protocol must be tcp, udp or sctp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PortRequests(&tt.host, tt.exposed)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("PortRequests = %v, %v; want invalid %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := gocmp.Diff(tt.want, got, gocmp.Comparer(func(a, b network.Port) bool { return a == b }), gocmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Fatalf("PortRequests (-want +got):\n%s", d)
			}
		})
	}
}

func TestAllocatePorts(t *testing.T) {
	// Ports 8080 on every address and 9000 on 127.0.0.1 are bound elsewhere.
	taken := func(proto network.IPProtocol, ip netip.Addr, port uint16) bool {
		return proto == network.TCP && (port == 8080 || port == 9000 && Overlap(ip, local1))
	}
	tests := []struct {
		name  string
		reqs  []PortRequest
		dynHi uint16 // the end of the dynamic range; 65535 when 0
		want  []Binding
		err   string
	}{
		{name: "free port", reqs: []PortRequest{{Port: tcp80, Lo: 8081, Hi: 8081}},
			want: []Binding{{Port: tcp80, HostPort: 8081}}},
		{name: "taken port", reqs: []PortRequest{{Port: tcp80, Lo: 8080, Hi: 8080}},
			err: "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{name: "taken on another protocol is free", reqs: []PortRequest{{Port: udp53, Lo: 8080, Hi: 8080}},
			want: []Binding{{Port: udp53, HostPort: 8080}}},
		{name: "range skips taken ports", reqs: []PortRequest{{Port: tcp80, Lo: 8080, Hi: 8090}},
			want: []Binding{{Port: tcp80, HostPort: 8081}}},
		{name: "range all taken", reqs: []PortRequest{{Port: tcp80, Lo: 8080, Hi: 8080}, {Port: tcp81, Lo: 8080, Hi: 8080}},
			err: "port is already allocated"},
		{name: "any port from the dynamic range", reqs: []PortRequest{{Port: tcp80}, {Port: tcp81}},
			want: []Binding{{Port: tcp80, HostPort: 49153}, {Port: tcp81, HostPort: 49154}}},
		{name: "two bindings of one request set never share", reqs: []PortRequest{{Port: tcp80, Lo: 8081, Hi: 8082}, {Port: tcp81, Lo: 8081, Hi: 8082}},
			want: []Binding{{Port: tcp80, HostPort: 8081}, {Port: tcp81, HostPort: 8082}}},
		{name: "another host IP is free", reqs: []PortRequest{{Port: tcp80, HostIP: netip.MustParseAddr("10.0.0.1"), Lo: 9000, Hi: 9000}},
			want: []Binding{{Port: tcp80, HostIP: netip.MustParseAddr("10.0.0.1"), HostPort: 9000}}},
		{name: "every address overlaps a taken host IP", reqs: []PortRequest{{Port: tcp80, Lo: 9000, Hi: 9000}},
			err: "Bind for 0.0.0.0:9000 failed"},
		{name: "range exhausted", reqs: []PortRequest{{Port: tcp80, Lo: 8080, Hi: 8080}, {Port: tcp81}},
			err: "port is already allocated"},
		{name: "dynamic range exhausted", reqs: []PortRequest{{Port: tcp80}, {Port: tcp81}, {Port: network.MustParsePort("82/tcp")}}, dynHi: 49154,
			err: "Bind for 0.0.0.0:49153-49154 failed: every port of the range is already allocated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AllocatePorts(tt.reqs, taken, 49153, cmp.Or(tt.dynHi, 65535))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.Is(err, errdefs.KindConflict) {
					t.Fatalf("AllocatePorts = %v, %v; want conflict %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := gocmp.Diff(tt.want, got, gocmp.Comparer(func(a, b network.Port) bool { return a == b }), gocmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Fatalf("AllocatePorts (-want +got):\n%s", d)
			}
		})
	}
}

func TestPortMap(t *testing.T) {
	got := PortMap([]Binding{{Port: tcp80, HostPort: 8080}, {Port: tcp80, HostIP: local1, HostPort: 9000}}, network.PortSet{tcp80: {}, tcp81: {}})
	want := network.PortMap{
		tcp80: {{HostIP: netip.IPv4Unspecified(), HostPort: "8080"}, {HostIP: local1, HostPort: "9000"}},
		tcp81: nil,
	}
	if d := gocmp.Diff(want, got, gocmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Fatalf("PortMap (-want +got):\n%s", d)
	}
}
