package ipam

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func addrs(ss ...string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, s := range ss {
		m[netip.MustParseAddr(s)] = true
	}
	return m
}

func TestNext(t *testing.T) {
	tests := []struct {
		name   string
		subnet string
		used   map[netip.Addr]bool
		want   string // "" means the subnet is full
	}{
		{"empty subnet starts after the gateway", "172.29.0.0/16", nil, "172.29.0.2"},
		{"unmasked prefix is masked", "172.29.7.9/16", nil, "172.29.0.2"},
		{"lowest free address", "10.0.0.0/24", addrs("10.0.0.2", "10.0.0.3", "10.0.0.5"), "10.0.0.4"},
		{"reuse after release", "10.0.0.0/24", addrs("10.0.0.3", "10.0.0.4"), "10.0.0.2"},
		{"crosses an octet", "10.0.0.0/23", fill("10.0.0.2", "10.0.0.255"), "10.0.1.0"},
		{"last host before broadcast", "10.0.0.0/29", addrs("10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), "10.0.0.6"},
		{"full /29 never gives the broadcast", "10.0.0.0/29", addrs("10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"), ""},
		{"/30 has one host", "10.0.0.0/30", nil, "10.0.0.2"},
		{"full /30", "10.0.0.0/30", addrs("10.0.0.2"), ""},
		{"full /24", "10.0.0.0/24", fill("10.0.0.2", "10.0.0.254"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Next(netip.MustParsePrefix(tt.subnet), tt.used)
			if tt.want == "" {
				if !errdefs.Is(err, errdefs.KindUnavailable) {
					t.Fatalf("got %v, %v; want an Unavailable error", got, err)
				}
				return
			}
			if err != nil || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// fill returns every address from first to last, inclusive.
func fill(first, last string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	l := netip.MustParseAddr(last)
	for a := netip.MustParseAddr(first); a.Compare(l) <= 0; a = a.Next() {
		m[a] = true
	}
	return m
}

func TestNextNeverGivesReservedAddresses(t *testing.T) {
	subnet := netip.MustParsePrefix("10.1.2.0/28")
	used := map[netip.Addr]bool{}
	for {
		a, err := Next(subnet, used)
		if err != nil {
			break
		}
		switch a.String() {
		case "10.1.2.0", "10.1.2.1", "10.1.2.15":
			t.Fatalf("got reserved address %s", a)
		}
		used[a] = true
	}
	if got, want := len(used), 16-3; got != want {
		t.Fatalf("got %d addresses from a /28, want %d", got, want)
	}
}

func TestCheckSubnet(t *testing.T) {
	tests := []struct {
		subnet string
		ok     bool
	}{
		{"172.29.0.0/16", true},
		{"10.0.0.0/30", true},
		{"10.0.0.0/31", false},
		{"10.0.0.0/32", false},
		{"fd00::/64", false},
	}
	for _, tt := range tests {
		t.Run(tt.subnet, func(t *testing.T) {
			err := CheckSubnet(netip.MustParsePrefix(tt.subnet))
			if tt.ok != (err == nil) {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errdefs.Is(err, errdefs.KindInvalid) {
				t.Fatalf("got error kind %v, want Invalid", errdefs.KindOf(err))
			}
		})
	}
}

func TestAllocatorPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "addresses.json")
	subnet := netip.MustParsePrefix("10.0.0.0/24")
	a, err := Open(path, subnet)
	if err != nil {
		t.Fatal(err)
	}
	mustAllocate := func(a *Allocator, owner, want string) {
		t.Helper()
		got, err := a.Allocate(owner)
		if err != nil || got != netip.MustParseAddr(want) {
			t.Fatalf("Allocate(%s) = %v, %v; want %s", owner, got, err, want)
		}
	}
	mustAllocate(a, "a", "10.0.0.2")
	mustAllocate(a, "b", "10.0.0.3")
	mustAllocate(a, "a", "10.0.0.2")

	// A restart sees both allocations: the next owner gets a third address.
	a2, err := Open(path, subnet)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := a2.Lookup("b"); !ok || got != netip.MustParseAddr("10.0.0.3") {
		t.Fatalf("after reopen, Lookup(b) = %v, %v; want 10.0.0.3", got, ok)
	}
	mustAllocate(a2, "c", "10.0.0.4")

	// A release survives a restart too, and the freed address is reused.
	if err := a2.Release("a"); err != nil {
		t.Fatal(err)
	}
	if err := a2.Release("a"); err != nil {
		t.Fatalf("second release: got %v, want nil", err)
	}
	a3, err := Open(path, subnet)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := a3.Lookup("a"); ok {
		t.Fatalf("after release and reopen, Lookup(a) = %v; want none", got)
	}
	mustAllocate(a3, "d", "10.0.0.2")
}

func TestOpenRejectsBadState(t *testing.T) {
	tests := []struct {
		name string
		file string
		kind errdefs.Kind
	}{
		{"outside the subnet", `{"addresses":{"a":"10.9.0.2"}}`, errdefs.KindConflict},
		{"the gateway", `{"addresses":{"a":"10.0.0.1"}}`, errdefs.KindConflict},
		{"the broadcast address", `{"addresses":{"a":"10.0.0.255"}}`, errdefs.KindConflict},
		{"one address twice", `{"addresses":{"a":"10.0.0.2","b":"10.0.0.2"}}`, errdefs.KindConflict},
		{"not JSON", `{`, errdefs.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "addresses.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, netip.MustParsePrefix("10.0.0.0/24"))
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if got := errdefs.KindOf(err); got != tt.kind {
				t.Fatalf("got kind %v (%v), want %v", got, err, tt.kind)
			}
		})
	}
}
