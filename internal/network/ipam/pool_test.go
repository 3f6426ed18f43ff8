package ipam

import (
	"net/netip"
	"testing"
)

func TestCarveSubnet(t *testing.T) {
	pp := netip.MustParsePrefix
	tests := []struct {
		name  string
		pools []netip.Prefix
		size  int
		taken []netip.Prefix
		want  string // "" for an error
	}{
		{"first of the default pool", DefaultAddrPool, 24, nil, "10.0.0.0/24"},
		{"skips taken", DefaultAddrPool, 24, []netip.Prefix{pp("10.0.0.0/24"), pp("10.0.1.0/24")}, "10.0.2.0/24"},
		{"skips a larger taken subnet at once", DefaultAddrPool, 24, []netip.Prefix{pp("10.0.0.0/16")}, "10.1.0.0/24"},
		{"skips a smaller taken subnet", DefaultAddrPool, 24, []netip.Prefix{pp("10.0.0.128/25")}, "10.0.1.0/24"},
		{"second pool when the first is full", []netip.Prefix{pp("10.10.0.0/23"), pp("192.168.0.0/16")}, 24,
			[]netip.Prefix{pp("10.10.0.0/24"), pp("10.10.1.0/24")}, "192.168.0.0/24"},
		{"custom size", []netip.Prefix{pp("172.20.0.0/16")}, 26, []netip.Prefix{pp("172.20.0.0/26")}, "172.20.0.64/26"},
		{"pool smaller than the size is skipped", []netip.Prefix{pp("10.0.0.0/28")}, 24, nil, ""},
		{"all taken", []netip.Prefix{pp("10.0.0.0/24")}, 24, []netip.Prefix{pp("10.0.0.0/24")}, ""},
		{"size out of range", DefaultAddrPool, 31, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CarveSubnet(tt.pools, tt.size, tt.taken)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestPoolTake(t *testing.T) {
	p := NewPool(netip.MustParsePrefix("10.0.1.0/29"), netip.Prefix{})
	p.Use(netip.MustParseAddr("10.0.1.1")) // the gateway
	p.Use(netip.MustParseAddr("10.0.1.3"))
	p.Use(netip.MustParseAddr("192.168.0.1")) // outside: ignored
	var got []string
	for {
		a, err := p.Take()
		if err != nil {
			break
		}
		got = append(got, a.String())
	}
	want := []string{"10.0.1.2", "10.0.1.4", "10.0.1.5", "10.0.1.6"} // .0 network, .7 broadcast
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestPoolWithin(t *testing.T) {
	p := NewPool(netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.0.0.128/30"))
	a, _ := p.Take()
	b, _ := p.Take()
	c, _ := p.Take()
	d, _ := p.Take()
	if a.String() != "10.0.0.128" || b.String() != "10.0.0.129" || c.String() != "10.0.0.130" || d.String() != "10.0.0.131" {
		t.Fatalf("got %s %s %s %s, want .128-.131 (the range's own ends are not the subnet's)", a, b, c, d)
	}
	if _, err := p.Take(); err == nil {
		t.Fatal("took a fifth address from a /30 range")
	}
}
