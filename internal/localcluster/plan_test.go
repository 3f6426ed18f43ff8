package localcluster

import (
	"net/netip"
	"testing"
)

func TestPlan(t *testing.T) {
	c, err := Plan("demo", 3, 2, netip.MustParsePrefix("10.249.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hosts) != 5 || c.Gateway != netip.MustParseAddr("10.249.0.1") {
		t.Fatalf("got %d hosts, gateway %s; want 5 hosts behind 10.249.0.1", len(c.Hosts), c.Gateway)
	}
	want := []struct{ name, role, addr string }{
		{"manager1", "manager", "10.249.0.2"},
		{"manager2", "manager", "10.249.0.3"},
		{"manager3", "manager", "10.249.0.4"},
		{"worker1", "worker", "10.249.0.5"},
		{"worker2", "worker", "10.249.0.6"},
	}
	seen := map[string]bool{}
	for i, w := range want {
		h := c.Hosts[i]
		if h.Name != w.name || h.Role != w.role || h.Addr.String() != w.addr {
			t.Errorf("host %d = %s %s %s, want %s %s %s", i, h.Name, h.Role, h.Addr, w.name, w.role, w.addr)
		}
		if len(h.Veth) > 15 || len(c.Bridge) > 15 {
			t.Errorf("interface names %q, %q longer than 15 bytes", h.Veth, c.Bridge)
		}
		if len(h.Socket) >= 100 {
			t.Errorf("socket path %q too long for a unix socket", h.Socket)
		}
		for _, v := range []string{h.Veth, h.Netns, h.Socket, h.DataRoot} {
			if seen[v] {
				t.Errorf("%q used twice", v)
			}
			seen[v] = true
		}
	}
	if got := c.Hosts[0].ClusterAddr(); got != "10.249.0.2:2377" {
		t.Errorf("ClusterAddr = %s", got)
	}
}

func TestPlanRefuses(t *testing.T) {
	p := netip.MustParsePrefix("10.249.0.0/24")
	tests := []struct {
		name              string
		cluster           string
		managers, workers int
		subnet            netip.Prefix
	}{
		{"no managers", "a", 0, 2, p},
		{"negative workers", "a", 1, -1, p},
		{"bad name", "Bad_Name", 1, 0, p},
		{"too small subnet", "a", 20, 0, netip.MustParsePrefix("10.249.0.0/28")},
		{"ipv6", "a", 1, 0, netip.MustParsePrefix("fd00::/64")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Plan(tt.cluster, tt.managers, tt.workers, tt.subnet); err == nil {
				t.Fatal("Plan accepted it")
			}
		})
	}
}
