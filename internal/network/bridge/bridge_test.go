package bridge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
)

func TestNewDefaultsAndChecks(t *testing.T) {
	b, err := New(Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != DefaultName || b.Subnet() != DefaultSubnet || b.cfg.NetnsDir != DefaultNetnsDir {
		t.Fatalf("got name %q subnet %s netns dir %q, want the defaults", b.Name(), b.Subnet(), b.cfg.NetnsDir)
	}
	if got, want := b.Gateway(), netip.MustParseAddr("172.29.0.1"); got != want {
		t.Fatalf("got gateway %s, want %s", got, want)
	}

	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"name too long", Config{Name: "a-very-long-name0", StateDir: t.TempDir()}},
		{"name with a slash", Config{Name: "a/b", StateDir: t.TempDir()}},
		{"IPv6 subnet", Config{Subnet: netip.MustParsePrefix("fd00::/64"), StateDir: t.TempDir()}},
		{"subnet too small", Config{Subnet: netip.MustParsePrefix("10.0.0.0/31"), StateDir: t.TempDir()}},
		{"no state dir", Config{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errdefs.Is(err, errdefs.KindInvalid) {
				t.Fatalf("got %v, want an Invalid error", err)
			}
		})
	}
}

func TestVethNameAndMAC(t *testing.T) {
	id := strings.Repeat("ab", 32)
	name := vethName(id, false)
	if len(name) != 11 || !strings.HasPrefix(name, "veth") || name != vethName(id, false) {
		t.Fatalf("got %q, want a stable veth+7 hex name", name)
	}
	if vethName(id+"x", false) == name {
		t.Fatalf("got the same name %q for two ids", name)
	}
	if got, want := macFor(netip.MustParseAddr("172.29.1.2")).String(), "02:42:ac:1d:01:02"; got != want {
		t.Fatalf("got MAC %s, want %s", got, want)
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"", ".", "..", "a/b", "a\x00b"} {
		if err := checkID(id); !errdefs.Is(err, errdefs.KindInvalid) {
			t.Errorf("checkID(%q) = %v, want an Invalid error", id, err)
		}
	}
	if err := checkID(strings.Repeat("f", 64)); err != nil {
		t.Errorf("checkID(64 hex) = %v, want nil", err)
	}
}

// newBridge makes a bridge named testBridge over fresh directories (unless
// cfg names them), sets it up and tears it down when the test ends.
func newBridge(t *testing.T, cfg Config) *Bridge {
	t.Helper()
	requireIsolation(t)
	cfg.Name = testBridge
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.NetnsDir == "" {
		cfg.NetnsDir = filepath.Join(t.TempDir(), "netns")
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	if err := b.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

// sandbox makes container id's sandbox and releases it when the test ends.
func sandbox(t *testing.T, b *Bridge, id string) (string, *executor.Endpoint) {
	t.Helper()
	return sandboxAs(t, b, id, false)
}

// sandboxAs is sandbox, as a way out or not.
func sandboxAs(t *testing.T, b *Bridge, id string, wayOut bool) (string, *executor.Endpoint) {
	t.Helper()
	t.Cleanup(func() {
		if err := b.Release(context.Background(), id); err != nil {
			t.Errorf("release %s: %v", id, err)
		}
	})
	path, ep, err := b.Sandbox(t.Context(), id, wayOut)
	if err != nil {
		t.Fatal(err)
	}
	return path, ep
}

func ping(t *testing.T, nsPath string, addr netip.Addr) error {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "nsenter", "--net="+nsPath,
		"/bin/busybox", "ping", "-c1", "-W1", addr.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w\n%s", addr, filepath.Base(nsPath), err, out)
	}
	return nil
}

func TestSetupIsIdempotent(t *testing.T) {
	b := newBridge(t, Config{})
	if err := b.Setup(t.Context()); err != nil {
		t.Fatalf("second setup: %v", err)
	}

	br, err := netlink.LinkByName(testBridge)
	if err != nil {
		t.Fatal(err)
	}
	if br.Type() != "bridge" || br.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("got %s link with flags %v, want an up bridge", br.Type(), br.Attrs().Flags)
	}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
	}
	if want := []string{"172.29.0.1/16"}; !cmp.Equal(got, want) {
		t.Fatalf("got bridge addresses %v, want %v", got, want)
	}
	fwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(fwd)) != "1" {
		t.Fatalf("got ip_forward %q, want 1", fwd)
	}
	// Rules are replaced, not added again.
	if got := ruleset(t); len(got["postrouting"]) != 1 || len(got["forward"]) != 2 {
		t.Fatalf("after two setups got rules %v, want one masquerade and two forward rules", got)
	}
}

// Teardown leaves neither of the node's nftables tables behind.
func TestTeardownRemovesBothTables(t *testing.T) {
	requireIsolation(t)
	b, err := New(Config{Name: testBridge, StateDir: t.TempDir(), NetnsDir: filepath.Join(t.TempDir(), "netns")})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Teardown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, family := range map[string]nftables.TableFamily{tableName: nftables.TableFamilyIPv4, gatewayTable: nftables.TableFamilyBridge} {
		if _, err := c.ListTableOfFamily(name, family); err == nil {
			t.Errorf("table %s is still there after Teardown", name)
		}
	}
}

func TestSetupRefusesANonBridge(t *testing.T) {
	requireIsolation(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: testBridge}, PeerName: testBridge + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	b, err := New(Config{Name: testBridge, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Setup(t.Context()); !errdefs.Is(err, errdefs.KindConflict) {
		t.Fatalf("got %v, want a Conflict error", err)
	}
}

func TestRuleset(t *testing.T) {
	newBridge(t, Config{Subnet: netip.MustParsePrefix("10.123.0.0/20")})
	got := ruleset(t)
	want := map[string][]string{
		"postrouting": {"ip saddr 10.123.0.0/20 oifname != shoaltest0 masquerade"},
		"forward":     {"iifname shoaltest0 accept", "oifname shoaltest0 accept"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rules (-want +got):\n%s", diff)
	}

	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]string{}
	for _, ch := range chains {
		if ch.Table.Name == tableName && ch.Hooknum != nil {
			hooks[ch.Name] = fmt.Sprintf("%s hook %d priority %d", ch.Type, *ch.Hooknum, *ch.Priority)
		}
	}
	wantHooks := map[string]string{
		"postrouting": fmt.Sprintf("nat hook %d priority 100", *nftables.ChainHookPostrouting),
		"forward":     fmt.Sprintf("filter hook %d priority 0", *nftables.ChainHookForward),
	}
	if diff := cmp.Diff(wantHooks, hooks); diff != "" {
		t.Fatalf("chains (-want +got):\n%s", diff)
	}
}

// ruleset reads the shoal table back from the kernel, rendered as nft
// would print each rule.
func ruleset(t *testing.T) map[string][]string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}
	out := map[string][]string{}
	for _, chain := range []string{"postrouting", "forward"} {
		rules, err := c.GetRules(table, &nftables.Chain{Name: chain, Table: table})
		if err != nil {
			t.Fatalf("read chain %s: %v", chain, err)
		}
		for _, r := range rules {
			out[chain] = append(out[chain], render(r.Exprs))
		}
	}
	return out
}

// render prints the expressions this package uses as nft syntax, and any
// other as its type, so that a wrong rule shows in the diff.
func render(exprs []expr.Any) string {
	var words []string
	var field string
	var mask net.IPMask
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Payload:
			field, mask = fmt.Sprintf("payload@%d+%d/%d", e.Base, e.Offset, e.Len), nil
			if e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 12 && e.Len == 4 {
				field = "ip saddr"
			}
		case *expr.Meta:
			field, mask = fmt.Sprintf("meta %d", e.Key), nil
			switch e.Key {
			case expr.MetaKeyIIFNAME:
				field = "iifname"
			case expr.MetaKeyOIFNAME:
				field = "oifname"
			}
		case *expr.Bitwise:
			mask = net.IPMask(e.Mask)
		case *expr.Cmp:
			op := map[expr.CmpOp]string{expr.CmpOpEq: "", expr.CmpOpNeq: "!= "}[e.Op]
			value := strings.TrimRight(string(e.Data), "\x00")
			if field == "ip saddr" {
				ones, _ := mask.Size()
				value = fmt.Sprintf("%s/%d", net.IP(e.Data), ones)
			}
			words = append(words, field+" "+op+value)
		case *expr.Masq:
			words = append(words, "masquerade")
		case *expr.Verdict:
			words = append(words, map[expr.VerdictKind]string{expr.VerdictAccept: "accept", expr.VerdictDrop: "drop"}[e.Kind])
		default:
			words = append(words, fmt.Sprintf("%T", e))
		}
	}
	return strings.Join(words, " ")
}

var equateAddrs = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

func TestSandboxesReachEachOther(t *testing.T) {
	b := newBridge(t, Config{})
	pathA, a := sandbox(t, b, "container-a")
	pathB, bb := sandbox(t, b, "container-b")

	if a.Addr == bb.Addr {
		t.Fatalf("got the same address %s twice", a.Addr)
	}
	want := &executor.Endpoint{
		NetworkName: DefaultNetworkName,
		Addr:        netip.MustParsePrefix("172.29.0.2/16"),
		Gateway:     netip.MustParseAddr("172.29.0.1"),
		MAC:         net.HardwareAddr{0x02, 0x42, 172, 29, 0, 2},
	}
	if diff := cmp.Diff(want, a, equateAddrs); diff != "" {
		t.Fatalf("first endpoint (-want +got):\n%s", diff)
	}
	if got, want := pathA, filepath.Join(b.cfg.NetnsDir, "container-a"); got != want {
		t.Fatalf("got namespace path %s, want %s", got, want)
	}
	for _, tt := range []struct {
		from string
		to   netip.Addr
	}{
		{pathA, bb.Addr.Addr()},
		{pathB, a.Addr.Addr()},
		{pathA, b.Gateway()},
		{pathB, b.Gateway()},
	} {
		if err := ping(t, tt.from, tt.to); err != nil {
			t.Error(err)
		}
	}
	// The sandbox's interface is what the endpoint says.
	if got := linkIn(t, pathA, ContainerIfname); got.Attrs().HardwareAddr.String() != a.MAC.String() {
		t.Errorf("got MAC %s in the sandbox, want %s", got.Attrs().HardwareAddr, a.MAC)
	}
}

// TestWayOutsApart: a way out (dockerd's docker_gwbridge, icc off)
// reaches the gateway, as the node reaches it, but no other port of the
// bridge reaches it, nor it another way out, while the default bridge's
// containers reach each other.
func TestWayOutsApart(t *testing.T) {
	b := newBridge(t, Config{})
	pathA, a := sandboxAs(t, b, "plain-a", false)
	_, bb := sandboxAs(t, b, "plain-b", false)
	pathT, task := sandboxAs(t, b, "task-t", true)
	pathU, u := sandboxAs(t, b, "task-u", true)
	for _, tt := range []struct {
		from  string
		to    netip.Addr
		reach bool
	}{
		{pathA, bb.Addr.Addr(), true},
		{pathT, b.Gateway(), true},
		{pathU, b.Gateway(), true},
		{pathA, task.Addr.Addr(), false},
		{pathT, a.Addr.Addr(), false},
		{pathT, u.Addr.Addr(), false},
		{pathU, task.Addr.Addr(), false},
	} {
		err := ping(t, tt.from, tt.to)
		if tt.reach && err != nil {
			t.Error(err)
		}
		if !tt.reach && err == nil {
			t.Errorf("%s reaches %s", filepath.Base(tt.from), tt.to)
		}
	}
	// The node reaches a way out (the routing mesh's DNAT goes so).
	if out, err := exec.CommandContext(t.Context(), "/bin/busybox", "ping", "-c1", "-W1", task.Addr.Addr().String()).CombinedOutput(); err != nil {
		t.Errorf("the node does not reach a way out at %s: %v\n%s", task.Addr, err, out)
	}
}

// linkIn returns the link called name in the namespace at nsPath.
func linkIn(t *testing.T, nsPath, name string) netlink.Link {
	t.Helper()
	ns, err := netnsAt(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	link, err := ns.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s in %s: %v", name, nsPath, err)
	}
	return link
}

func TestRelease(t *testing.T) {
	b := newBridge(t, Config{})
	path, ep := sandbox(t, b, "gone")
	if err := b.Release(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(vethName("gone", false)); !isNotFound(err) {
		t.Errorf("got %v looking up the host veth, want not found", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v for the namespace file, want it gone", err)
	}
	if addr, ok := b.alloc.Lookup("gone"); ok {
		t.Errorf("got %s still allocated, want it free", addr)
	}
	if err := b.Release(t.Context(), "gone"); err != nil {
		t.Errorf("second release: got %v, want nil", err)
	}
	if err := b.Release(t.Context(), "never-made"); err != nil {
		t.Errorf("release of an unknown id: got %v, want nil", err)
	}
	_, next := sandbox(t, b, "next")
	if next.Addr != ep.Addr {
		t.Errorf("got %s for the next sandbox, want the freed %s", next.Addr, ep.Addr)
	}
}

func TestRestartAdoptsSandbox(t *testing.T) {
	b := newBridge(t, Config{})
	path, ep := sandbox(t, b, "survivor")
	before := linkIn(t, path, ContainerIfname).Attrs().Index

	// A restarted daemon: a new Bridge over the same state and namespaces.
	b2, err := New(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	path2, ep2, err := b2.Sandbox(t.Context(), "survivor", false)
	if err != nil {
		t.Fatal(err)
	}
	if path2 != path {
		t.Errorf("got path %s, want %s", path2, path)
	}
	if diff := cmp.Diff(ep, ep2, equateAddrs); diff != "" {
		t.Errorf("endpoint after restart (-before +after):\n%s", diff)
	}
	if after := linkIn(t, path, ContainerIfname).Attrs().Index; after != before {
		t.Errorf("got %s index %d, want the untouched %d", ContainerIfname, after, before)
	}
	// The restarted daemon does not give the live address away.
	_, other := sandbox(t, b2, "newcomer")
	if other.Addr == ep.Addr {
		t.Errorf("got %s for a new sandbox, which the adopted one holds", other.Addr)
	}
	if err := ping(t, path, b.Gateway()); err != nil {
		t.Error(err)
	}
}

func TestSandboxRepairsLostVeth(t *testing.T) {
	b := newBridge(t, Config{})
	path, ep := sandbox(t, b, "repair")
	host, err := netlink.LinkByName(vethName("repair", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(host); err != nil {
		t.Fatal(err)
	}
	path2, ep2, err := b.Sandbox(t.Context(), "repair", false)
	if err != nil {
		t.Fatal(err)
	}
	if path2 != path || !cmp.Equal(ep, ep2, equateAddrs) {
		t.Fatalf("got %s %+v, want %s %+v", path2, ep2, path, ep)
	}
	if err := ping(t, path, b.Gateway()); err != nil {
		t.Error(err)
	}
}

func TestSandboxWithoutBridgeLeavesNothing(t *testing.T) {
	requireIsolation(t)
	b, err := New(Config{Name: testBridge, StateDir: t.TempDir(), NetnsDir: filepath.Join(t.TempDir(), "netns")})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = b.Sandbox(t.Context(), "early", false)
	if !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Fatalf("got %v, want an Unavailable error", err)
	}
	if _, err := os.Stat(b.nsPath("early")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v for the namespace file, want none", err)
	}
	if addr, ok := b.alloc.Lookup("early"); ok {
		t.Errorf("got %s allocated, want none", addr)
	}
}

// defaultRoutes lists the default routes in the namespace at nsPath as
// "via GW dev IFNAME".
func defaultRoutes(t *testing.T, nsPath string) []string {
	t.Helper()
	ns, err := netnsAt(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	routes, err := ns.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
			continue
		}
		link, err := ns.LinkByIndex(r.LinkIndex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("via %s dev %s", r.Gw, link.Attrs().Name))
	}
	return out
}

// TestDefaultRouteMoves plugs a sandbox on the node bridge into a local
// network and moves its default route between the two, as the engine
// does when networks are connected and disconnected, then takes it away.
func TestDefaultRouteMoves(t *testing.T) {
	b := newBridge(t, Config{})
	path, ep := sandbox(t, b, "routed")
	l := Local{Name: "shoaltestl0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1")}
	if err := EnsureLocal(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveLocal(context.Background(), l.Name) })
	if err := Plug(t.Context(), path, "routed", "net-l", "eth1", l, netip.MustParseAddr("10.77.0.2")); err != nil {
		t.Fatal(err)
	}
	node := "via " + ep.Gateway.String() + " dev eth0"
	if got := defaultRoutes(t, path); !cmp.Equal(got, []string{node}) {
		t.Fatalf("after Plug: default routes %v, want only the sandbox's %q (Plug leaves the route alone)", got, node)
	}
	for _, tt := range []struct {
		ifname string
		gw     netip.Addr
		want   []string
	}{
		{"eth1", l.Gateway, []string{"via 10.77.0.1 dev eth1"}},
		{"eth1", l.Gateway, []string{"via 10.77.0.1 dev eth1"}},
		{"eth0", ep.Gateway, []string{node}},
		{"", netip.Addr{}, nil},
		{"", netip.Addr{}, nil},
	} {
		if err := DefaultRoute(t.Context(), path, tt.ifname, tt.gw); err != nil {
			t.Fatalf("DefaultRoute(%q, %s): %v", tt.ifname, tt.gw, err)
		}
		if got := defaultRoutes(t, path); !cmp.Equal(got, tt.want) {
			t.Fatalf("DefaultRoute(%q, %s): default routes %v, want %v", tt.ifname, tt.gw, got, tt.want)
		}
	}
	if err := DefaultRoute(t.Context(), path, "eth9", l.Gateway); err == nil {
		t.Fatal("a default route out of a missing interface was accepted")
	}
	if err := Unplug(t.Context(), "routed", "net-l"); err != nil {
		t.Fatal(err)
	}
}
