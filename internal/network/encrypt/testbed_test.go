package encrypt

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/network/view"
)

// The testbed: two namespaces, a and b, standing for two hosts, joined by
// a veth pair (the underlay). Each runs a tunnel and two VXLAN devices:
// vx-enc, of an encrypted network, sends to the other's tunnel address;
// vx-plain, of a plain network, to the other's underlay address.
const (
	underlayA    = "shwgt-a"
	underlayB    = "shwgt-b"
	encDevice    = "vx-enc"
	plainDevice  = "vx-plain"
	vniEncrypted = 4242
	vniPlain     = 4243
	vxlanPort    = 4789
)

var tunnelPort = Port(vxlanPort)

// end is one side of the testbed.
type end struct {
	ns       string       // network namespace file
	underlay netip.Addr   // on its veth
	tunnel   netip.Prefix // its tunnel address and the tunnel prefix
	enc      netip.Addr   // on vx-enc
	plain    netip.Addr   // on vx-plain
	tun      *helper
}

// peer is what the other side's tunnel needs to know of e.
func (e *end) peer() Peer {
	return Peer{PublicKey: e.tun.PublicKey, Endpoint: netip.AddrPortFrom(e.underlay, tunnelPort), Addr: e.tunnel.Addr()}
}

type testbed struct{ a, b *end }

// newTestbed builds the testbed, with each tunnel peered with the other
// and the guard on vx-enc's VNI in both namespaces, and takes it down when
// the test ends.
func newTestbed(tb testing.TB) *testbed {
	tb.Helper()
	requireIsolation(tb)
	dir := tb.TempDir()
	mk := func(name string, host byte) *end {
		return &end{
			ns:       createNetns(tb, filepath.Join(dir, "ns-"+name)),
			underlay: netip.AddrFrom4([4]byte{192, 168, 77, host}),
			tunnel:   netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, 0, host}), 16),
			enc:      netip.AddrFrom4([4]byte{172, 31, 42, host}),
			plain:    netip.AddrFrom4([4]byte{172, 31, 43, host}),
		}
	}
	tbd := &testbed{a: mk("a", 1), b: mk("b", 2)}

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: underlayA}, PeerName: underlayB}
	if err := netlink.LinkAdd(veth); err != nil {
		tb.Fatalf("make the underlay veth pair: %v", err)
	}
	for _, side := range []struct {
		e    *end
		link string
	}{{tbd.a, underlayA}, {tbd.b, underlayB}} {
		link, err := netlink.LinkByName(side.link)
		if err != nil {
			tb.Fatal(err)
		}
		ns, err := netns.GetFromPath(side.e.ns)
		if err != nil {
			tb.Fatal(err)
		}
		err = netlink.LinkSetNsFd(link, int(ns))
		ns.Close()
		if err != nil {
			tb.Fatalf("move %s into its namespace: %v", side.link, err)
		}
		withLinks(tb, side.e.ns, func(h *netlink.Handle) {
			setUp(tb, h, "lo", netip.Prefix{})
			setUp(tb, h, side.link, netip.PrefixFrom(side.e.underlay, 24))
		})
	}

	for _, e := range []*end{tbd.a, tbd.b} {
		e.tun = startHelper(tb, e.ns, helperConfig{
			KeyPath: filepath.Join(dir, filepath.Base(e.ns)+".key"),
			Addr:    e.tunnel,
			Port:    tunnelPort,
		})
	}
	for _, pair := range [][2]*end{{tbd.a, tbd.b}, {tbd.b, tbd.a}} {
		self, other := pair[0], pair[1]
		if err := self.tun.SetPeers([]Peer{other.peer()}); err != nil {
			tb.Fatal(err)
		}
		withLinks(tb, self.ns, func(h *netlink.Handle) {
			addVXLAN(tb, h, encDevice, vniEncrypted, OverlayMTU, self.tunnel.Addr(), other.tunnel.Addr(), self.enc)
			addVXLAN(tb, h, plainDevice, vniPlain, 1500-VXLANOverhead, self.underlay, other.underlay, self.plain)
		})
		if err := Guard(tb.Context(), self.ns, vxlanPort, DefaultName, []uint32{vniEncrypted}); err != nil {
			tb.Fatal(err)
		}
	}
	return tbd
}

// addVXLAN makes a point-to-point VXLAN device from local to remote with
// addr on it. Learning is off, as on Shoal's overlays: a frame that came
// in the clear must not teach the device where a MAC lives.
func addVXLAN(tb testing.TB, h *netlink.Handle, name string, vni, mtu int, local, remote, addr netip.Addr) {
	tb.Helper()
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, HardwareAddr: view.MAC(addr)},
		VxlanId:   vni,
		SrcAddr:   local.AsSlice(),
		Group:     remote.AsSlice(),
		Port:      vxlanPort,
		Learning:  false,
	}
	if err := h.LinkAdd(vx); err != nil {
		tb.Fatalf("make %s: %v", name, err)
	}
	setUp(tb, h, name, netip.PrefixFrom(addr, 24))
}

func setUp(tb testing.TB, h *netlink.Handle, name string, addr netip.Prefix) {
	tb.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	if addr.IsValid() {
		ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipnet}); err != nil {
			tb.Fatalf("address %s on %s: %v", addr, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		tb.Fatalf("set %s up: %v", name, err)
	}
}

// withLinks runs fn with a netlink handle on the namespace at path.
func withLinks(tb testing.TB, path string, fn func(*netlink.Handle)) {
	tb.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	fn(h)
}

// createNetns makes a network namespace bind-mounted at path, removed when
// the test ends.
func createNetns(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine instead of
		// going back, inside the new namespace, to the scheduler.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		tb.Fatalf("make network namespace %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", path, err)
		}
	})
	return path
}

// inNetns runs fn on an OS thread inside the namespace at path. Sockets fn
// opens stay in that namespace for good, whichever thread uses them later.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked, as in createNetns.
		runtime.LockOSThread()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// ping sends one echo request from the namespace at nsPath to addr and
// waits a second for the reply.
func ping(tb testing.TB, nsPath string, addr netip.Addr) error {
	tb.Helper()
	out, err := exec.CommandContext(tb.Context(), "nsenter", "--net="+nsPath,
		"/bin/busybox", "ping", "-c1", "-W1", addr.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w\n%s", addr, filepath.Base(nsPath), err, out)
	}
	return nil
}

// pingEventually retries ping a bounded number of times: the first packets to
// a peer wait for ARP over the overlay and for the tunnel's handshake.
func pingEventually(tb testing.TB, nsPath string, addr netip.Addr) error {
	tb.Helper()
	var err error
	for range 10 {
		if err = ping(tb, nsPath, addr); err == nil {
			return nil
		}
	}
	return err
}

// sink is a TCP server in a namespace that counts and hashes what each
// connection sends.
type sink struct {
	ln   net.Listener
	addr netip.AddrPort
}

type received struct {
	n   int64
	sum [sha256.Size]byte
	err error
}

func listenSink(tb testing.TB, nsPath string, addr netip.Addr) *sink {
	tb.Helper()
	var ln net.Listener
	err := inNetns(nsPath, func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(addr, 0).String())
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return &sink{ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
}

// accept takes one connection and reports what came through it.
func (s *sink) accept() <-chan received {
	done := make(chan received, 1)
	go func() {
		conn, err := s.ln.Accept()
		if err != nil {
			done <- received{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Minute))
		h := sha256.New()
		n, err := io.Copy(h, conn)
		r := received{n: n, err: err}
		copy(r.sum[:], h.Sum(nil))
		done <- r
	}()
	return done
}

// dial connects from the namespace at nsPath to addr.
func dial(nsPath string, addr netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(nsPath, func() (err error) {
		conn, err = net.DialTimeout("tcp4", addr.String(), 10*time.Second)
		return err
	})
	return conn, err
}

// transfer sends data over TCP from the namespace at from to dst in the
// namespace at to, and checks that all of it arrived intact.
func transfer(tb testing.TB, from, to string, dst netip.Addr, data []byte) error {
	tb.Helper()
	s := listenSink(tb, to, dst)
	got := s.accept()
	conn, err := dial(from, s.addr)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	_, err = conn.Write(data)
	conn.Close()
	if err != nil {
		return fmt.Errorf("send to %s: %w", s.addr, err)
	}
	r := <-got
	switch {
	case r.err != nil:
		return fmt.Errorf("receive at %s: %w", s.addr, r.err)
	case r.n != int64(len(data)) || r.sum != sha256.Sum256(data):
		return fmt.Errorf("got %d bytes at %s, want the %d sent, intact", r.n, s.addr, len(data))
	}
	return nil
}
