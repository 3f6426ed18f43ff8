package lb

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// These tests need root and run in TestMain's namespaces; run them as
// flock /tmp/shoal-e2e.lock go test -count=1 ./internal/network/lb/

// TestTablesInKernel loads every golden file's table through google/nftables
// and checks that nft lists the kernel's copy as the golden text says, and
// that the golden text is itself valid nft.
func TestTablesInKernel(t *testing.T) {
	requireKernel(t)
	for _, g := range readGoldens(t) {
		t.Run(strings.TrimSuffix(filepath.Base(g.path), ".nft"), func(t *testing.T) {
			ns := newNetNS(t, "scratch")
			abs, err := filepath.Abs(g.path)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := ns.nft(t, "-c", "-f", abs); err != nil {
				t.Fatalf("nft -c -f %s: %v\n%s", g.path, err, out)
			}
			tab, err := g.build()
			if err != nil {
				t.Fatal(err)
			}
			if err := replaceTable(t.Context(), ns.path, tab); err != nil {
				t.Fatal(err)
			}
			listed := ns.listTable(t, tab.name)
			if diff := cmp.Diff(normalize(g.want), normalize(listed)); diff != "" {
				t.Fatalf("the kernel lists %s other than %s says (-golden +kernel):\n%s", tab.name, g.path, diff)
			}
			if err := replaceTable(t.Context(), ns.path, tab); err != nil {
				t.Fatal(err)
			}
			if again := ns.listTable(t, tab.name); again != listed {
				t.Fatalf("applying the same table again changed it:\n%s\nthen:\n%s", listed, again)
			}
			if err := deleteTable(t.Context(), ns.path, tab.name); err != nil {
				t.Fatal(err)
			}
			if got := ns.listTable(t, tab.name); got != "" {
				t.Fatalf("after deleting, nft lists:\n%s", got)
			}
		})
	}
}

// vipLab is a task's namespace (client) and three backends (b1, b2, b3) on
// one overlay, a bridge in a switch namespace; each backend runs a server
// on port 80.
type vipLab struct {
	client     *netNS
	clientAddr netip.Addr
	b1, b2, b3 netip.Addr
}

func newVIPLab(t *testing.T) *vipLab {
	t.Helper()
	sw := newNetNS(t, "sw")
	sw.bridge(t, "br0", "")
	l := &vipLab{
		client:     newNetNS(t, "client"),
		clientAddr: netip.MustParseAddr("10.10.0.2"),
		b1:         netip.MustParseAddr("10.10.0.11"),
		b2:         netip.MustParseAddr("10.10.0.12"),
		b3:         netip.MustParseAddr("10.10.0.13"),
	}
	l.client.plug(t, "eth0", "10.10.0.2/24", sw, "br0")
	for name, a := range map[string]netip.Addr{"b1": l.b1, "b2": l.b2, "b3": l.b3} {
		b := newNetNS(t, name)
		b.plug(t, "eth0", a.String()+"/24", sw, "br0")
		serve(t, b, 80)
	}
	return l
}

func (l *vipLab) apply(t *testing.T, vips ...VIP) {
	t.Helper()
	if err := ApplyVIPs(t.Context(), l.client.path, vips); err != nil {
		t.Fatal(err)
	}
}

var (
	vipSpread = netip.MustParseAddr("10.10.0.100")
	vipNone   = netip.MustParseAddr("10.10.0.101")
	vipOne    = netip.MustParseAddr("10.10.0.102")
)

func TestVIPSpreadsOverEveryBackend(t *testing.T) {
	requireKernel(t)
	l := newVIPLab(t)
	l.apply(t,
		VIP{Addr: vipSpread, Backends: []netip.Addr{l.b1, l.b2, l.b3}},
		VIP{Addr: vipOne, Backends: []netip.Addr{l.b2}},
	)
	every := map[string]netip.Addr{"b1": l.clientAddr, "b2": l.clientAddr, "b3": l.clientAddr}
	for _, network := range []string{"tcp", "udp"} {
		got := l.client.spread(t, network, vipSpread.String()+":80", 200, every)
		t.Logf("%s: 200 connections to %s: %v", network, vipSpread, got)
		l.client.spread(t, network, vipOne.String()+":80", 20, map[string]netip.Addr{"b2": l.clientAddr})
	}
	// Any port: the VIP keeps it.
	if _, err := l.client.askNew(t, "tcp", vipOne.String()+":81"); !isRefused(err) {
		t.Fatalf("tcp to %s:81, where b2 has no server: got %v, want connection refused by b2", vipOne, err)
	}
}

func TestVIPWithoutBackendIsRefused(t *testing.T) {
	requireKernel(t)
	l := newVIPLab(t)
	l.apply(t, VIP{Addr: vipNone})
	if _, err := l.client.askNew(t, "tcp", vipNone.String()+":80"); !isRefused(err) {
		t.Errorf("tcp to %s, which has no backend: got %v, want connection refused", vipNone, err)
	}
	c, err := l.client.dial(t, "udp", vipNone.String()+":80")
	if err != nil {
		t.Fatal(err)
	}
	if err := refusedUDP(c); err != nil {
		t.Errorf("udp to %s, which has no backend: %v", vipNone, err)
	}
}

func TestVIPKeepsEstablishedConnections(t *testing.T) {
	requireKernel(t)
	l := newVIPLab(t)
	l.apply(t, VIP{Addr: vipOne, Backends: []netip.Addr{l.b1}})
	for _, network := range []string{"tcp", "udp"} {
		c, err := l.client.dial(t, network, vipOne.String()+":80")
		if err != nil {
			t.Fatal(err)
		}
		if a, err := ask(c); err != nil || a.server != "b1" {
			t.Fatalf("%s: got %v, %v, want an answer from b1", network, a, err)
		}
		for _, change := range [][]netip.Addr{{l.b2}, nil} {
			l.apply(t, VIP{Addr: vipOne, Backends: change})
			if a, err := ask(c); err != nil || a.server != "b1" {
				t.Fatalf("%s: after the backends became %v, the connection got %v, %v, want it kept to b1", network, change, a, err)
			}
		}
		if _, err := l.client.askNew(t, "tcp", vipOne.String()+":80"); !isRefused(err) {
			t.Fatalf("%s: a new TCP connection, once the VIP has no backend: got %v, want connection refused", network, err)
		}
		l.apply(t, VIP{Addr: vipOne, Backends: []netip.Addr{l.b1}})
	}
}

func TestApplyVIPsAgainChangesNothing(t *testing.T) {
	requireKernel(t)
	l := newVIPLab(t)
	vips := []VIP{{Addr: vipSpread, Backends: []netip.Addr{l.b1, l.b2, l.b3}}, {Addr: vipNone}}
	l.apply(t, vips...)
	before := l.client.listTable(t, vipTable)
	want, err := buildVIPs(vips)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalize(want.String()), normalize(before)); diff != "" {
		t.Fatalf("the kernel lists other than was built (-built +kernel):\n%s", diff)
	}
	c, err := l.client.dial(t, "tcp", vipSpread.String()+":80")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ask(c)
	if err != nil {
		t.Fatal(err)
	}
	l.apply(t, VIP{Addr: vipNone}, VIP{Addr: vipSpread, Backends: []netip.Addr{l.b3, l.b2, l.b1}})
	if after := l.client.listTable(t, vipTable); after != before {
		t.Fatalf("the same VIPs in another order changed the table:\n%s\nthen:\n%s", before, after)
	}
	if a, err := ask(c); err != nil || a != first {
		t.Fatalf("after applying again, the connection got %v, %v, want %v", a, err, first)
	}
}

func TestRemoveVIPs(t *testing.T) {
	requireKernel(t)
	ns := newNetNS(t, "task")
	if err := RemoveVIPs(t.Context(), ns.path); err != nil {
		t.Fatalf("removing VIPs that were never there: %v", err)
	}
	if err := ApplyVIPs(t.Context(), ns.path, []VIP{{Addr: vipOne}}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveVIPs(t.Context(), ns.path); err != nil {
		t.Fatal(err)
	}
	if got := ns.listTable(t, vipTable); got != "" {
		t.Fatalf("after RemoveVIPs, nft lists:\n%s", got)
	}
}
