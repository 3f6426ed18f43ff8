package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/moby/moby/api/types/swarm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// newNamespace makes a network namespace, as a container's, mounted at a
// path of the test's; it goes when the test ends.
func newNamespace(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netns")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine instead of
		// going back to the runtime inside the new namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		t.Fatalf("make a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", path, err)
		}
	})
	return path
}

func openNamespace(t *testing.T, path string) netns.NsHandle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// askIn sends q to the embedded server from a socket made inside the
// namespace at path, as a process of the container would.
func askIn(t *testing.T, path, network string, q *dns.Msg) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	c, err := dialIn(ctx, openNamespace(t, path), network, netip.AddrPortFrom(Address, 53).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, _, err := (&dns.Client{Net: network, Timeout: clientTimeout}).ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: c})
	if err != nil {
		t.Fatalf("%s query %s in the namespace: %v", network, q.Question[0].Name, err)
	}
	return r
}

// nsenter runs a command inside the namespace at path.
func nsenter(t *testing.T, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serverGone reports whether 127.0.0.11:53 is free again, for UDP and
// TCP, in the namespace at path.
func serverGone(t *testing.T, path string) error {
	t.Helper()
	return inNamespace(openNamespace(t, path), func() error {
		addr := &net.UDPAddr{IP: Address.AsSlice(), Port: 53}
		udp, err := net.ListenUDP("udp4", addr)
		if err != nil {
			return err
		}
		udp.Close()
		tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: addr.IP, Port: 53})
		if err != nil {
			return err
		}
		return tcp.Close()
	})
}

func TestNamespaceServer(t *testing.T) {
	requireNamespaces(t)
	path := newNamespace(t)
	links, err := netlink.NewHandleAt(openNamespace(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer links.Close()
	loUp := func() bool {
		lo, err := links.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		return lo.Attrs().Flags&net.FlagUp != 0
	}
	if loUp() {
		t.Fatal("got lo up in a new namespace, want it down")
	}

	up := startUpstream(t, answerWith("192.0.2.1"))
	m := New(Config{Upstreams: []netip.AddrPort{up.addr}, ResolvConfPath: filepath.Join(t.TempDir(), "none")})
	t.Cleanup(m.Close)
	m.Update(testView())
	if err := m.Start(t.Context(), "c1", path, []string{"n1", "n2"}); err != nil {
		t.Fatal(err)
	}
	if !loUp() {
		t.Fatal("got lo down after Start, want it up")
	}

	t.Run("busybox nslookup", func(t *testing.T) {
		out := nsenter(t, path, "busybox", "nslookup", "web", Address.String())
		t.Logf("busybox nslookup web:\n%s", out)
		if !strings.Contains(out, "Address: 10.0.1.2") {
			t.Fatalf("got\n%s\nwant web's VIP 10.0.1.2", out)
		}
		out = nsenter(t, path, "busybox", "nslookup", "10.0.1.10", Address.String())
		if !strings.Contains(out, "web.1.aaa.front") {
			t.Fatalf("got\n%s\nwant the reverse name web.1.aaa.front", out)
		}
	})
	t.Run("a client in the namespace", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			wantReply(t, askIn(t, path, network, query("tasks.web.", dns.TypeA)), "NOERROR", "10.0.1.10", "10.0.1.11")
			wantReply(t, askIn(t, path, network, query("secret.", dns.TypeA)), "NOERROR", "192.0.2.1")
		}
	})
	t.Run("an update answers the next query", func(t *testing.T) {
		v := testView()
		v.Networks[0].Endpoints[2].Running = true
		m.Update(v)
		wantReply(t, askIn(t, path, "udp", query("tasks.web.", dns.TypeA)), "NOERROR", "10.0.1.10", "10.0.1.11", "10.0.1.12")
		v = testView()
		v.Networks[0].Endpoints = v.Networks[0].Endpoints[1:]
		m.Update(v)
		wantReply(t, askIn(t, path, "udp", query("tasks.web.", dns.TypeA)), "NOERROR", "10.0.1.11")
		wantReply(t, askIn(t, path, "udp", query("web.", dns.TypeA)), "NOERROR", "10.0.1.2")
	})
	t.Run("Start again keeps the server", func(t *testing.T) {
		if err := m.Start(t.Context(), "c1", path, []string{"n2"}); err != nil {
			t.Fatal(err)
		}
		wantReply(t, askIn(t, path, "udp", query("web.", dns.TypeA)), "NOERROR", "10.0.2.3")
	})
	t.Run("Stop closes the sockets", func(t *testing.T) {
		if err := serverGone(t, path); err == nil {
			t.Fatal("could bind 127.0.0.11:53 while the server runs")
		}
		m.Stop("c1")
		if err := serverGone(t, path); err != nil {
			t.Fatalf("got %v binding 127.0.0.11:53 after Stop, want it free", err)
		}
		m.Stop("c1")
	})
}

// TestNamespaceServiceNameservers: the service's own nameservers are asked
// from the container's namespace, where this one listens on its loopback.
func TestNamespaceServiceNameservers(t *testing.T) {
	requireNamespaces(t)
	path := newNamespace(t)
	var pc net.PacketConn
	if err := inNamespace(openNamespace(t, path), func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", "127.0.0.1:53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	inContainer := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(answerWith("198.51.100.7"))}
	go inContainer.ActivateAndServe()
	t.Cleanup(func() { inContainer.Shutdown() })

	node := startUpstream(t, answerWith("192.0.2.1"))
	m := New(Config{Upstreams: []netip.AddrPort{node.addr}})
	t.Cleanup(m.Close)
	m.Update(testView())
	dnsConfig := &swarm.DNSConfig{Nameservers: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	if err := m.Start(t.Context(), "c1", path, []string{"n5"}, WithDNSConfig(dnsConfig)); err != nil {
		t.Fatal(err)
	}
	// On an internal network only: the service's nameserver is still
	// asked, from the container's namespace.
	wantReply(t, askIn(t, path, "udp", query("example.org.", dns.TypeA)), "NOERROR", "198.51.100.7")
	if got := node.queries.Load(); got != 0 {
		t.Fatalf("the node's nameserver got %d queries, want none", got)
	}
}

// TestNamespaceNewNamespace: a container started again in a new namespace
// gets a new server there, and the old one's sockets close.
func TestNamespaceNewNamespace(t *testing.T) {
	requireNamespaces(t)
	first, second := newNamespace(t), newNamespace(t)
	m := New(Config{Upstreams: []netip.AddrPort{}})
	t.Cleanup(m.Close)
	m.Update(testView())
	for _, path := range []string{first, second} {
		if err := m.Start(t.Context(), "c1", path, []string{"n1"}); err != nil {
			t.Fatal(err)
		}
		wantReply(t, askIn(t, path, "udp", query("web.", dns.TypeA)), "NOERROR", "10.0.1.2")
	}
	if err := serverGone(t, first); err != nil {
		t.Fatalf("got %v binding 127.0.0.11:53 in the first namespace, want it free", err)
	}
	wantReply(t, askIn(t, second, "udp", query("example.org.", dns.TypeA)), "SERVFAIL")
	m.Close()
	if err := serverGone(t, second); err != nil {
		t.Fatalf("got %v binding 127.0.0.11:53 after Close, want it free", err)
	}
	if err := m.Start(t.Context(), "c2", second, nil); !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Fatalf("got %v starting after Close, want an Unavailable error", err)
	}
}

func TestStartErrors(t *testing.T) {
	m := New(Config{})
	t.Cleanup(m.Close)
	notNamespace := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notNamespace, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, id, path string
		kind           errdefs.Kind
	}{
		{"no container ID", "", "/proc/self/ns/net", errdefs.KindInvalid},
		{"no path", "c1", "", errdefs.KindInvalid},
		{"no namespace there", "c1", filepath.Join(t.TempDir(), "missing"), errdefs.KindNotFound},
		{"not a namespace", "c1", notNamespace, errdefs.KindUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Start(t.Context(), tt.id, tt.path, nil)
			if !errdefs.Is(err, tt.kind) {
				t.Fatalf("got %v, want an error of kind %v", err, tt.kind)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Start(ctx, "c1", "/proc/self/ns/net", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v with a cancelled context, want context.Canceled", err)
	}
}
