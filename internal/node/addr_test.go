package node

import (
	"net/netip"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestResolveAddrs(t *testing.T) {
	one := func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.0.2.7")}, nil }
	two := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1")}, nil
	}
	tests := []struct {
		name              string
		listen, advertise string
		ifaces            func() ([]netip.Addr, error)
		wantListen        string
		wantAdvertise     string
		wantErr           bool
	}{
		{"defaults with one address", "", "", one, "0.0.0.0:2377", "192.0.2.7:2377", false},
		{"defaults with two addresses", "", "", two, "", "", true},
		{"listen IP is advertised", "127.0.0.1:4000", "", two, "127.0.0.1:4000", "127.0.0.1:4000", false},
		{"advertise IP takes the listen port", "0.0.0.0:4000", "10.9.8.7", two, "0.0.0.0:4000", "10.9.8.7:4000", false},
		{"advertise with its own port", "", "10.9.8.7:5000", two, "0.0.0.0:2377", "10.9.8.7:5000", false},
		{"listen without port", "127.0.0.2", "", two, "127.0.0.2:2377", "127.0.0.2:2377", false},
		{"lo by name", "lo", "", two, "127.0.0.1:2377", "127.0.0.1:2377", false},
		{"bad port", "127.0.0.1:99999", "", one, "", "", true},
		{"bad advertise", "", "no-such-interface-x", one, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, a, err := resolveAddrs(tt.listen, tt.advertise, tt.ifaces)
			if tt.wantErr {
				if !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("got %q %q %v, want an Invalid error", l, a, err)
				}
				return
			}
			if err != nil || l != tt.wantListen || a != tt.wantAdvertise {
				t.Fatalf("got %q %q %v, want %q %q", l, a, err, tt.wantListen, tt.wantAdvertise)
			}
		})
	}
}
