package encrypt

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/internal/network/view"
)

// TestEncryptedOverlay runs VXLAN through two tunnels in two namespaces
// joined by a veth pair, and watches the veth.
func TestEncryptedOverlay(t *testing.T) {
	tbd := newTestbed(t)
	a, b := tbd.a, tbd.b

	t.Run("ping", func(t *testing.T) {
		for _, tt := range []struct {
			from *end
			to   netip.Addr
		}{{a, b.enc}, {b, a.enc}, {a, b.plain}, {b, a.plain}} {
			if err := pingEventually(t, tt.from.ns, tt.to); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("the underlay shows only WireGuard", func(t *testing.T) {
		marker := []byte("shoal-encrypt-test-marker-5d1c9e")
		data := bytes.Repeat(marker, (4<<20)/len(marker))
		for _, tt := range []struct {
			name      string
			to        netip.Addr
			encrypted bool
		}{
			// The plain network first: the capture must see the marker
			// and VXLAN there, or its silence below would prove nothing.
			{"plain", b.plain, false},
			{"encrypted", b.enc, true},
		} {
			c := startCapture(t, b.ns, underlayB, marker)
			if err := transfer(t, a.ns, b.ns, tt.to, data); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			got := c.Stop()
			t.Logf("%s: %d frames on %s, %d with the marker, UDP frames by port %v, VXLAN frames by VNI %v",
				tt.name, got.frames, underlayB, got.marker, got.udp, got.vxlan)
			if got.err != nil || got.drops != 0 {
				t.Fatalf("%s: capture error %v, %d frames dropped: it cannot vouch for what passed", tt.name, got.err, got.drops)
			}
			// Both networks' VXLAN share the underlay: the plain one's
			// stragglers (the last ACKs of its transfer) may show in the
			// second capture, so VXLAN is told apart by VNI.
			switch {
			case !tt.encrypted && (got.marker == 0 || got.vxlan[vniPlain] == 0):
				t.Errorf("plain: got %d frames with the marker and %d VXLAN frames of VNI %d, want both seen", got.marker, got.vxlan[vniPlain], vniPlain)
			case tt.encrypted && got.marker != 0:
				t.Errorf("encrypted: got the marker in %d frames on the underlay, want none", got.marker)
			case tt.encrypted && got.vxlan[vniEncrypted] != 0:
				t.Errorf("encrypted: got %d VXLAN frames of VNI %d on the underlay, want none outside the tunnel", got.vxlan[vniEncrypted], vniEncrypted)
			case tt.encrypted && got.udp[tunnelPort] < len(data)/OverlayMTU:
				t.Errorf("encrypted: got %d WireGuard frames (UDP %d) on the underlay, want the transfer in them: at least %d", got.udp[tunnelPort], tunnelPort, len(data)/OverlayMTU)
			}
		}
	})

	t.Run("guard drops plain VXLAN for encrypted VNIs", func(t *testing.T) {
		t.Cleanup(func() {
			if err := Guard(context.Background(), b.ns, vxlanPort, DefaultName, []uint32{vniEncrypted}); err != nil {
				t.Error(err)
			}
		})
		in := listenUDP(t, b.ns, 9999)
		inject := func(vni uint32, to netip.Addr, payload string) {
			t.Helper()
			from := a.plain
			if vni == vniEncrypted {
				from = a.enc
			}
			pkt := vxlanPacket(vni, view.MAC(to), from, netip.AddrPortFrom(to, 9999), []byte(payload))
			if err := sendUDP(a.ns, netip.AddrPortFrom(b.underlay, vxlanPort), pkt); err != nil {
				t.Fatal(err)
			}
		}

		// Unguarded, the forged packet is taken: it is well formed.
		if err := Guard(t.Context(), b.ns, vxlanPort, DefaultName, nil); err != nil {
			t.Fatal(err)
		}
		inject(vniEncrypted, b.enc, "forged-unguarded")
		inject(vniPlain, b.plain, "control-1")
		if got := readUntil(t, in, "forged-unguarded", "control-1"); !slices.Contains(got, "forged-unguarded") {
			t.Fatalf("without the guard got %q, want the forged packet delivered", got)
		}

		if err := Guard(t.Context(), b.ns, vxlanPort, DefaultName, []uint32{vniEncrypted}); err != nil {
			t.Fatal(err)
		}
		inject(vniEncrypted, b.enc, "forged-guarded")
		inject(vniPlain, b.plain, "control-2")
		if got := readUntil(t, in, "control-2"); slices.Contains(got, "forged-guarded") {
			t.Fatalf("with the guard got %q, want the forged packet dropped", got)
		}
		// The guard's counter shows the drop: the forged packet went
		// through the hook before the control, which has arrived.
		if got := guardDrops(t, b.ns); got != 1 {
			t.Fatalf("got %d packets dropped by the guard, want the 1 forged", got)
		}
		// Traffic through the tunnel still passes the guard.
		if err := pingEventually(t, a.ns, b.enc); err != nil {
			t.Error(err)
		}
		out, err := exec.CommandContext(t.Context(), "nsenter", "--net="+b.ns, "nft", "list", "table", "ip", guardTable).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "drop") {
			t.Errorf("nft list table ip %s: %v\n%s", guardTable, err, out)
		}
		t.Logf("as nft shows it:\n%s", out)
	})

	t.Run("SetPeers removes and restores a peer", func(t *testing.T) {
		if err := a.tun.SetPeers(nil); err != nil {
			t.Fatal(err)
		}
		if err := ping(t, a.ns, b.enc); err == nil {
			t.Fatal("got a reply over the encrypted network with b's peer removed, want none")
		}
		if err := ping(t, a.ns, b.plain); err != nil {
			t.Errorf("plain network with b's peer removed: %v", err)
		}
		if err := a.tun.SetPeers([]Peer{b.peer()}); err != nil {
			t.Fatal(err)
		}
		if err := pingEventually(t, a.ns, b.enc); err != nil {
			t.Fatalf("after the peer came back: %v", err)
		}
		// Refused peers change nothing.
		bad := b.peer()
		bad.Addr = netip.MustParseAddr("10.78.0.2")
		if err := a.tun.SetPeers([]Peer{bad}); err == nil || !strings.Contains(err.Error(), "not in the tunnel prefix") {
			t.Fatalf("got %v setting a peer outside the tunnel prefix, want it refused", err)
		}
		if err := a.tun.SetPeers([]Peer{b.peer()}); err != nil {
			t.Fatal(err)
		}
		if err := ping(t, a.ns, b.enc); err != nil {
			t.Errorf("after a refused and an unchanged SetPeers: %v", err)
		}
	})
}

// BenchmarkOverlayThroughput sends 1 MiB a round over TCP between the
// testbed's namespaces, on the plain and on the encrypted network. Run it
// bounded, as docs/NETWORKING.md records it:
//
//	flock /tmp/shoal-e2e.lock go test -run '^$' -bench OverlayThroughput -benchtime 200x ./internal/network/encrypt/
func BenchmarkOverlayThroughput(b *testing.B) {
	tbd := newTestbed(b)
	for _, bb := range []struct {
		name string
		to   netip.Addr
	}{{"plain", tbd.b.plain}, {"encrypted", tbd.b.enc}} {
		b.Run(bb.name, func(b *testing.B) {
			if err := pingEventually(b, tbd.a.ns, bb.to); err != nil {
				b.Fatal(err)
			}
			chunk := bytes.Repeat([]byte{0x5a}, 1<<20)
			s := listenSink(b, tbd.b.ns, bb.to)
			got := s.accept()
			conn, err := dial(tbd.a.ns, s.addr)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			conn.Close()
			r := <-got
			b.StopTimer()
			if r.err != nil || r.n != int64(b.N*len(chunk)) {
				b.Fatalf("got %d bytes (%v), want %d", r.n, r.err, b.N*len(chunk))
			}
		})
	}
}

// vxlanPacket is a VXLAN packet, as a UDP payload, carrying an IPv4 UDP
// datagram from src to dst in an Ethernet frame for dstMAC.
func vxlanPacket(vni uint32, dstMAC net.HardwareAddr, src netip.Addr, dst netip.AddrPort, payload []byte) []byte {
	pkt := []byte{0x08, 0, 0, 0} // flags: a VNI is present
	pkt = append(pkt, vniBytes(vni)...)
	pkt = append(pkt, 0)
	pkt = append(pkt, dstMAC...)
	pkt = append(pkt, 0x02, 0, 0, 0, 0, 0x01)
	pkt = binary.BigEndian.AppendUint16(pkt, 0x0800)
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = 17
	s, d := src.As4(), dst.Addr().As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	pkt = append(pkt, ip...)
	pkt = binary.BigEndian.AppendUint16(pkt, 40000)
	pkt = binary.BigEndian.AppendUint16(pkt, dst.Port())
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(8+len(payload)))
	pkt = binary.BigEndian.AppendUint16(pkt, 0) // no checksum, as IPv4 allows
	return append(pkt, payload...)
}

func ipChecksum(header []byte) uint16 {
	var sum uint32
	for i := 0; i < len(header); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(header[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// sendUDP sends one datagram from the namespace at nsPath.
func sendUDP(nsPath string, to netip.AddrPort, payload []byte) error {
	return inNetns(nsPath, func() error {
		conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write(payload)
		return err
	})
}

func listenUDP(t *testing.T, nsPath string, port uint16) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	err := inNetns(nsPath, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readUntil reads datagrams until it has had each of want, and returns
// all it read; it fails the test if they do not come within 10 seconds.
func readUntil(t *testing.T, conn *net.UDPConn, want ...string) []string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string
	buf := make([]byte, 1500)
	for !containsAll(got, want) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("got %q waiting for %q: %v", got, want, err)
		}
		got = append(got, string(buf[:n]))
	}
	return got
}

func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// guardDrops reads the guard's counter in the namespace at nsPath.
func guardDrops(t *testing.T, nsPath string) uint64 {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: guardTable, Family: nftables.TableFamilyIPv4}
	rules, err := c.GetRules(table, &nftables.Chain{Name: "input", Table: table})
	if err != nil {
		t.Fatal(err)
	}
	var drops uint64
	for _, r := range rules {
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Counter); ok {
				drops += c.Packets
			}
		}
	}
	return drops
}

// TestStartCleansUpWhenThePortIsTaken runs in the test process's own
// namespace (TestMain's, all of the process is in it) and checks that a
// failed start leaves no device behind, then that Close removes it.
func TestStartCleansUpWhenThePortIsTaken(t *testing.T) {
	requireIsolation(t)
	key, err := LoadOrCreateKey(t.TempDir() + "/tunnel.key")
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(DefaultPort)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{PrivateKey: key, Addr: netip.MustParsePrefix("10.77.0.1/16")}
	if tun, err := Start(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "udp port 4790") {
		if tun != nil {
			tun.Close()
		}
		t.Fatalf("got %v starting on a taken port, want an error naming udp port 4790", err)
	}
	if _, err := netlink.LinkByName(DefaultName); err == nil {
		t.Fatalf("got a %s device after a failed start, want none", DefaultName)
	}
	taken.Close()

	tun, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	link, err := netlink.LinkByName(DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if link.Attrs().MTU != DefaultMTU {
		t.Errorf("got MTU %d, want %d", link.Attrs().MTU, DefaultMTU)
	}
	routes, err := netlink.RouteGet(net.ParseIP("10.77.200.1"))
	if err != nil || len(routes) != 1 || routes[0].LinkIndex != link.Attrs().Index || !routes[0].Src.Equal(net.ParseIP("10.77.0.1")) {
		t.Errorf("got routes %+v (%v) to another tunnel address, want one into %s from 10.77.0.1", routes, err, DefaultName)
	}
	tun.Close()
	select {
	case <-tun.Done():
	default:
		t.Error("got Done open after Close, want it closed")
	}
	if _, err := netlink.LinkByName(DefaultName); err == nil {
		t.Fatalf("got a %s device after Close, want none", DefaultName)
	}
}
