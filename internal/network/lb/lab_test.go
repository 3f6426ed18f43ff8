package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ioTimeout bounds every connection attempt and exchange of the tests, so
// that a broken rule fails a test instead of hanging it.
const ioTimeout = 10 * time.Second

// netNS is a network namespace a test made, bind-mounted at path; it and
// every link in it go away in the test's cleanup.
type netNS struct {
	name string
	path string
	*netlink.Handle
}

func newNetNS(t *testing.T, name string) *netNS {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		errc <- unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create network namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount network namespace %s: %v", name, err)
		}
	})
	h, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	handle, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(handle.Close)
	n := &netNS{name: name, path: path, Handle: handle}
	n.up(t, "lo")
	return n
}

func (n *netNS) link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := n.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: link %s: %v", n.name, name, err)
	}
	return l
}

func (n *netNS) up(t *testing.T, name string) {
	t.Helper()
	if err := n.LinkSetUp(n.link(t, name)); err != nil {
		t.Fatalf("%s: set %s up: %v", n.name, name, err)
	}
}

// addr gives the interface an address (CIDR) and brings it up.
func (n *netNS) addr(t *testing.T, ifname, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.AddrAdd(n.link(t, ifname), a); err != nil {
		t.Fatalf("%s: add %s to %s: %v", n.name, cidr, ifname, err)
	}
	n.up(t, ifname)
}

// bridge makes a bridge with the address cidr ("" for none).
func (n *netNS) bridge(t *testing.T, name, cidr string) {
	t.Helper()
	if err := n.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		t.Fatalf("%s: add bridge %s: %v", n.name, name, err)
	}
	if cidr != "" {
		n.addr(t, name, cidr)
	}
	n.up(t, name)
}

// defaultRoute routes everything off-link through gw.
func (n *netNS) defaultRoute(t *testing.T, gw string) {
	t.Helper()
	if err := n.RouteAdd(&netlink.Route{Gw: net.ParseIP(gw)}); err != nil {
		t.Fatalf("%s: default route via %s: %v", n.name, gw, err)
	}
}

// routeVia is a route to dst through gw (none when gw is not valid).
func routeVia(t *testing.T, dst string, gw netip.Addr) *netlink.Route {
	t.Helper()
	_, ipnet, err := net.ParseCIDR(dst)
	if err != nil {
		t.Fatal(err)
	}
	r := &netlink.Route{Dst: ipnet}
	if gw.IsValid() {
		r.Gw = gw.AsSlice()
	}
	return r
}

// plug connects n to a bridge of sw with a veth: ifname (with the address
// cidr) in n, its peer a port of the bridge.
func (n *netNS) plug(t *testing.T, ifname, cidr string, sw *netNS, bridge string) {
	t.Helper()
	peer := fmt.Sprintf("p-%s-%s", n.name, ifname)
	if len(peer) >= unix.IFNAMSIZ {
		t.Fatalf("veth name %q too long", peer)
	}
	h, err := netns.GetFromPath(sw.path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifname}, PeerName: peer, PeerNamespace: netlink.NsFd(h)}
	if err := n.LinkAdd(veth); err != nil {
		t.Fatalf("%s: add veth %s to %s: %v", n.name, ifname, sw.name, err)
	}
	if err := sw.LinkSetMaster(sw.link(t, peer), sw.link(t, bridge)); err != nil {
		t.Fatalf("%s: attach %s to %s: %v", sw.name, peer, bridge, err)
	}
	sw.up(t, peer)
	n.addr(t, ifname, cidr)
}

// pair connects n and other with a veth pair, ifname in n and peer in
// other, each with its address.
func (n *netNS) pair(t *testing.T, ifname, cidr string, other *netNS, peer, peerCIDR string) {
	t.Helper()
	h, err := netns.GetFromPath(other.path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifname}, PeerName: peer, PeerNamespace: netlink.NsFd(h)}
	if err := n.LinkAdd(veth); err != nil {
		t.Fatalf("%s: add veth %s: %v", n.name, ifname, err)
	}
	n.addr(t, ifname, cidr)
	other.addr(t, peer, peerCIDR)
}

func (n *netNS) sysctl(t *testing.T, path, value string) {
	t.Helper()
	if err := inNamespace(n.path, func() error { return writeSysctls([]sysctl{{path, value}}) }); err != nil {
		t.Fatal(err)
	}
}

// nft runs the nft command in n.
func (n *netNS) nft(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "nsenter", append([]string{"--net=" + n.path, "nft"}, args...)...).CombinedOutput()
	return string(out), err
}

// listTable is `nft list table ip NAME` in n, "" when there is none.
func (n *netNS) listTable(t *testing.T, name string) string {
	t.Helper()
	out, err := n.nft(t, "list", "table", "ip", name)
	if err != nil {
		if strings.Contains(out, "No such file or directory") {
			return ""
		}
		t.Fatalf("nft list table ip %s: %v: %s", name, err, out)
	}
	return out
}

// serve answers on TCP and UDP port of every address of n: each line, or
// datagram, with "NAME CLIENT", the client address it saw. The UDP socket
// is bound to the wildcard address and replies from whatever address the
// kernel picks, as simple servers do.
func serve(t *testing.T, n *netNS, port int) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	err := inNamespace(n.path, func() error {
		var err error
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen: %v", n.name, err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					if _, err := fmt.Fprintf(c, "%s %s\n", n.name, c.RemoteAddr()); err != nil {
						return
					}
				}
			}()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(fmt.Appendf(nil, "%s %s", n.name, from), from)
		}
	}()
}

// answer is what a test server said: its name and the client address it saw.
type answer struct {
	server string
	client netip.Addr
}

// dial connects from n; it fails rather than wait past ioTimeout.
func (n *netNS) dial(t *testing.T, network, addr string) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := inNamespace(n.path, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
		defer cancel()
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// ask sends a line, or a datagram, on c and returns the answer.
func ask(c net.Conn) (answer, error) {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return answer{}, err
	}
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return answer{}, err
	}
	var line string
	if _, ok := c.(*net.UDPConn); ok {
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			return answer{}, err
		}
		line = string(buf[:n])
	} else {
		var err error
		if line, err = bufio.NewReader(c).ReadString('\n'); err != nil {
			return answer{}, err
		}
	}
	name, client, ok := strings.Cut(strings.TrimSpace(line), " ")
	ap, err := netip.ParseAddrPort(client)
	if !ok || err != nil {
		return answer{}, fmt.Errorf("answer %q is not NAME ADDR:PORT", line)
	}
	return answer{name, ap.Addr()}, nil
}

// askNew opens a new connection from n, asks once and closes it.
func (n *netNS) askNew(t *testing.T, network, addr string) (answer, error) {
	t.Helper()
	c, err := n.dial(t, network, addr)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	return ask(c)
}

// spread opens count connections from n to addr, one after the other, and
// counts the answers by server; every answer must have seen wantClient[server].
func (n *netNS) spread(t *testing.T, network, addr string, count int, wantClient map[string]netip.Addr) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range count {
		a, err := n.askNew(t, network, addr)
		if err != nil {
			t.Fatalf("%s %s from %s: %v", network, addr, n.name, err)
		}
		want, ok := wantClient[a.server]
		if !ok {
			t.Fatalf("%s %s from %s: answered by %s, want one of %v", network, addr, n.name, a.server, wantClient)
		}
		if a.client != want {
			t.Fatalf("%s %s from %s: %s saw client %s, want %s", network, addr, n.name, a.server, a.client, want)
		}
		got[a.server]++
	}
	for server := range wantClient {
		if got[server] == 0 {
			t.Fatalf("%s %s from %s: %d connections, none to %s: got %v", network, addr, n.name, count, server, got)
		}
	}
	return got
}

// isRefused reports whether err is a connection refused at once: a TCP
// reset, or ICMP port unreachable on a connected UDP socket.
func isRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

// refusedUDP sends a datagram on c, a connected UDP socket, and reports
// whether it was refused at once. A datagram rejected in the sender's own
// namespace fails the send with EPERM; the ICMP port unreachable the
// rejection also sends makes the next call fail with ECONNREFUSED.
func refusedUDP(c net.Conn) error {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("hello\n")); err != nil && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("send: got %w, want EPERM or nothing", err)
	}
	_, err := c.Read(make([]byte, 1500))
	if !isRefused(err) {
		return fmt.Errorf("receive: got %v, want connection refused", err)
	}
	return nil
}
