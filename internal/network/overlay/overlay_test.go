package overlay

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// The tests build two hosts (network namespaces joined by a veth pair)
// and a task namespace on each, and run the package's functions inside
// each host's namespace, as the daemon runs inside its host's.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNS makes a named network namespace that the test removes.
func newNS(t *testing.T, name string) string {
	t.Helper()
	exec.Command("ip", "netns", "del", name).Run()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return "/run/netns/" + name
}

// inNS runs fn on a thread inside the namespace at path.
func inNS(t *testing.T, path string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with the goroutine rather than
		// going back to the pool inside another namespace.
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func ping(nsName, addr string) error {
	out, err := exec.Command("ip", "netns", "exec", nsName, "ping", "-c1", "-W1", addr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %v\n%s", addr, nsName, err, out)
	}
	return nil
}

func TestOverlayAcrossHosts(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("needs ping")
	}
	hostA, hostB := newNS(t, "ovt-ha"), newNS(t, "ovt-hb")
	taskA, taskB := newNS(t, "ovt-ta"), newNS(t, "ovt-tb")
	run(t, "ip", "link", "add", "ovt-va", "netns", "ovt-ha", "type", "veth", "peer", "name", "ovt-vb", "netns", "ovt-hb")
	run(t, "ip", "-n", "ovt-ha", "addr", "add", "10.77.0.1/24", "dev", "ovt-va")
	run(t, "ip", "-n", "ovt-hb", "addr", "add", "10.77.0.2/24", "dev", "ovt-vb")
	run(t, "ip", "-n", "ovt-ha", "link", "set", "ovt-va", "up")
	run(t, "ip", "-n", "ovt-hb", "link", "set", "ovt-vb", "up")

	const netID = "ovtestnetwork0000000000001"
	n := Network{ID: netID, VNI: 4242, Port: 4789, MTU: 1450}
	underlay := map[string]netip.Addr{hostA: netip.MustParseAddr("10.77.0.1"), hostB: netip.MustParseAddr("10.77.0.2")}
	addrA, addrB := netip.MustParsePrefix("10.88.0.2/24"), netip.MustParsePrefix("10.88.0.3/24")
	for host, task := range map[string]struct {
		ns   string
		addr netip.Prefix
	}{hostA: {taskA, addrA}, hostB: {taskB, addrB}} {
		inNS(t, host, func() error {
			if err := Ensure(t.Context(), n); err != nil {
				return err
			}
			// Twice: adopting what exists changes nothing.
			if err := Ensure(t.Context(), n); err != nil {
				return err
			}
			return Attach(t.Context(), task.ns, "c-"+host, []Endpoint{{NetworkID: netID, Ifname: "eth1", Addr: task.addr, MTU: 1450}})
		})
	}
	setRemotes := func(host string, rs ...Remote) {
		t.Helper()
		inNS(t, host, func() error { return SetRemotes(t.Context(), netID, rs) })
	}
	setRemotes(hostA, Remote{Addr: addrB.Addr(), VTEP: underlay[hostB]})
	setRemotes(hostB, Remote{Addr: addrA.Addr(), VTEP: underlay[hostA]})

	t.Run("tasks on two hosts reach each other", func(t *testing.T) {
		if err := ping("ovt-ta", addrB.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if err := ping("ovt-tb", addrA.Addr().String()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("entries are static: the VXLAN device answers ARP and learns nothing", func(t *testing.T) {
		fdb := run(t, "ip", "netns", "exec", "ovt-ha", "bridge", "fdb", "show", "dev", VXLANName(netID))
		if !strings.Contains(fdb, "02:42:0a:58:00:03 dst 10.77.0.2 self permanent") {
			t.Fatalf("forwarding entries of host A:\n%s", fdb)
		}
		neigh := run(t, "ip", "-n", "ovt-ha", "neigh", "show", "dev", VXLANName(netID))
		if !strings.Contains(neigh, "10.88.0.3 lladdr 02:42:0a:58:00:03 PERMANENT") {
			t.Fatalf("neighbours of host A:\n%s", neigh)
		}
	})
	t.Run("a remote that left leaves no entry and no path", func(t *testing.T) {
		setRemotes(hostA)
		if fdb := run(t, "ip", "netns", "exec", "ovt-ha", "bridge", "fdb", "show", "dev", VXLANName(netID)); strings.Contains(fdb, "dst 10.77.0.2") {
			t.Fatalf("stale forwarding entry:\n%s", fdb)
		}
		if neigh := run(t, "ip", "-n", "ovt-ha", "neigh", "show", "dev", VXLANName(netID)); strings.Contains(neigh, "10.88.0.3") {
			t.Fatalf("stale neighbour:\n%s", neigh)
		}
		if err := ping("ovt-ta", addrB.Addr().String()); err == nil {
			t.Fatal("reached a remote whose entries were removed")
		}
		setRemotes(hostA, Remote{Addr: addrB.Addr(), VTEP: underlay[hostB]})
		if err := ping("ovt-ta", addrB.Addr().String()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the bridge holds the node's own address when given one", func(t *testing.T) {
		withAddr := n
		withAddr.Addr = netip.MustParsePrefix("10.88.0.250/24")
		inNS(t, hostA, func() error { return Ensure(t.Context(), withAddr) })
		// The other node reaches it as it reaches the node's tasks.
		setRemotes(hostB, Remote{Addr: addrA.Addr(), VTEP: underlay[hostA]}, Remote{Addr: withAddr.Addr.Addr(), VTEP: underlay[hostA]})
		if err := ping("ovt-ha", addrA.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if err := ping("ovt-ha", addrB.Addr().String()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("detach and remove leave nothing", func(t *testing.T) {
		inNS(t, hostA, func() error {
			if err := Detach(t.Context(), "c-"+hostA, []string{netID}); err != nil {
				return err
			}
			return Remove(t.Context(), netID)
		})
		links := run(t, "ip", "-n", "ovt-ha", "link")
		for _, name := range []string{BridgeName(netID), VXLANName(netID), VethName("c-"+hostA, netID)} {
			if strings.Contains(links, name) {
				t.Errorf("%s is still there:\n%s", name, links)
			}
		}
		if l := run(t, "ip", "-n", "ovt-ta", "link"); strings.Contains(l, "eth1") {
			t.Errorf("the task's interface is still there:\n%s", l)
		}
	})
}
