package encrypt

import (
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// testKey is a public key made of one repeated byte, and its hex.
func testKey(b byte) (string, string) {
	raw := []byte(strings.Repeat(string(rune(b)), keySize))
	return base64.StdEncoding.EncodeToString(raw), hex.EncodeToString(raw)
}

var tunnelPrefix = netip.MustParsePrefix("10.77.0.1/16")

func TestCheckPeers(t *testing.T) {
	self, _ := testKey('s')
	k1, _ := testKey('1')
	k2, _ := testKey('2')
	ok1 := Peer{PublicKey: k1, Endpoint: netip.MustParseAddrPort("192.168.77.2:4790"), Addr: netip.MustParseAddr("10.77.0.2")}
	ok2 := Peer{PublicKey: k2, Endpoint: netip.MustParseAddrPort("192.168.77.3:4790"), Addr: netip.MustParseAddr("10.77.0.3")}
	with := func(p Peer, change func(*Peer)) Peer { change(&p); return p }

	got, err := checkPeers(self, tunnelPrefix, []Peer{ok1, ok2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]Peer{k1: ok1, k2: ok2}, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Fatalf("peers by key (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name  string
		peers []Peer
		want  string
	}{
		{"bad key", []Peer{with(ok1, func(p *Peer) { p.PublicKey = "abc" })}, `peer public key "abc"`},
		{"own key", []Peer{with(ok1, func(p *Peer) { p.PublicKey = self })}, "this node's own public key"},
		{"address outside the prefix", []Peer{with(ok1, func(p *Peer) { p.Addr = netip.MustParseAddr("10.78.0.2") })}, "not in the tunnel prefix 10.77.0.0/16"},
		{"IPv6 address", []Peer{with(ok1, func(p *Peer) { p.Addr = netip.MustParseAddr("fd00::2") })}, "not in the tunnel prefix"},
		{"own address", []Peer{with(ok1, func(p *Peer) { p.Addr = tunnelPrefix.Addr() })}, "is this node's own"},
		{"no endpoint", []Peer{with(ok1, func(p *Peer) { p.Endpoint = netip.AddrPort{} })}, "want an address and a port"},
		{"no port", []Peer{with(ok1, func(p *Peer) { p.Endpoint = netip.AddrPortFrom(p.Endpoint.Addr(), 0) })}, "want an address and a port"},
		{"key twice", []Peer{ok1, with(ok2, func(p *Peer) { p.PublicKey = k1 })}, "given twice"},
		{"address twice", []Peer{ok1, with(ok2, func(p *Peer) { p.Addr = ok1.Addr })}, "the same tunnel address 10.77.0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkPeers(self, tunnelPrefix, tt.peers)
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an Invalid error saying %q", err, tt.want)
			}
		})
	}
}

func TestPeersUAPI(t *testing.T) {
	k1, h1 := testKey('1')
	k2, h2 := testKey('2')
	k3, h3 := testKey('3')
	p1 := Peer{PublicKey: k1, Endpoint: netip.MustParseAddrPort("192.168.77.2:4790"), Addr: netip.MustParseAddr("10.77.0.2")}
	p2 := Peer{PublicKey: k2, Endpoint: netip.MustParseAddrPort("192.168.77.3:4790"), Addr: netip.MustParseAddr("10.77.0.3")}
	p3 := Peer{PublicKey: k3, Endpoint: netip.MustParseAddrPort("[fd00::4]:4790"), Addr: netip.MustParseAddr("10.77.0.4")}
	moved := p2
	moved.Endpoint = netip.MustParseAddrPort("192.168.77.9:4790")
	peers := func(ps ...Peer) map[string]Peer {
		m := map[string]Peer{}
		for _, p := range ps {
			m[p.PublicKey] = p
		}
		return m
	}

	for _, tt := range []struct {
		name             string
		current, desired map[string]Peer
		want             string
	}{
		{"nothing changed", peers(p1, p2), peers(p1, p2), ""},
		{"none to none", peers(), peers(), ""},
		{"first peers", peers(), peers(p2, p1),
			"public_key=" + h1 + "\nendpoint=192.168.77.2:4790\nreplace_allowed_ips=true\nallowed_ip=10.77.0.2/32\n" +
				"public_key=" + h2 + "\nendpoint=192.168.77.3:4790\nreplace_allowed_ips=true\nallowed_ip=10.77.0.3/32\n"},
		{"one added, one removed, one kept", peers(p1, p2), peers(p2, p3),
			"public_key=" + h1 + "\nremove=true\n" +
				"public_key=" + h3 + "\nendpoint=[fd00::4]:4790\nreplace_allowed_ips=true\nallowed_ip=10.77.0.4/32\n"},
		{"endpoint moved", peers(p1, p2), peers(p1, moved),
			"public_key=" + h2 + "\nendpoint=192.168.77.9:4790\nreplace_allowed_ips=true\nallowed_ip=10.77.0.3/32\n"},
		{"all removed", peers(p1, p2), peers(),
			"public_key=" + h1 + "\nremove=true\npublic_key=" + h2 + "\nremove=true\n"},
		{"unknown after a failure", nil, peers(p1),
			"replace_peers=true\npublic_key=" + h1 + "\nendpoint=192.168.77.2:4790\nreplace_allowed_ips=true\nallowed_ip=10.77.0.2/32\n"},
		{"unknown, now none", nil, peers(), "replace_peers=true\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, peersUAPI(tt.current, tt.desired)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	key := Key{}
	k, err := LoadOrCreateKey(t.TempDir() + "/k")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := withDefaults(Config{PrivateKey: k, Addr: tunnelPrefix})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "shwg0" || cfg.ListenPort != 4790 || cfg.MTU != 1420 || cfg.Logger == nil {
		t.Fatalf("got name %q port %d MTU %d logger %v, want shwg0, 4790, 1420 and one", cfg.Name, cfg.ListenPort, cfg.MTU, cfg.Logger)
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{PrivateKey: key, Addr: tunnelPrefix}, "no private key"},
		{"long name", Config{Name: "a-very-long-name0", PrivateKey: k, Addr: tunnelPrefix}, "longer than 15 bytes"},
		{"no address", Config{PrivateKey: k}, "want an IPv4 address"},
		{"IPv6 address", Config{PrivateKey: k, Addr: netip.MustParsePrefix("fd00::1/64")}, "want an IPv4 address"},
		{"host prefix", Config{PrivateKey: k, Addr: netip.MustParsePrefix("10.77.0.1/32")}, "/30 or wider"},
		{"tiny MTU", Config{PrivateKey: k, Addr: tunnelPrefix, MTU: 100}, "MTU 100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := withDefaults(tt.cfg)
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an Invalid error saying %q", err, tt.want)
			}
		})
	}
}

func TestPort(t *testing.T) {
	for _, tt := range []struct{ dataPath, want uint16 }{{0, 4790}, {4789, 4790}, {7789, 7790}, {65535, 65534}} {
		if got := Port(tt.dataPath); got != tt.want {
			t.Errorf("Port(%d) = %d, want %d", tt.dataPath, got, tt.want)
		}
	}
	if OverlayMTU != 1370 {
		t.Errorf("got overlay MTU %d, want 1420 - 50 = 1370", OverlayMTU)
	}
}
