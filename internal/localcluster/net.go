package localcluster

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const netnsDir = "/run/netns"

// setUpNetwork creates the cluster bridge with the gateway address, and
// each host's namespace linked to it by a veth pair.
func setUpNetwork(c *Cluster) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: c.Bridge}}
	if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create bridge %s: %w", c.Bridge, err)
	}
	link, err := netlink.LinkByName(c.Bridge)
	if err != nil {
		return err
	}
	gw := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(c.Gateway, c.Subnet.Bits()))}
	if err := netlink.AddrReplace(link, gw); err != nil {
		return fmt.Errorf("address bridge %s: %w", c.Bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	for _, h := range c.Hosts {
		if err := setUpHost(c, h, link); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	return nil
}

func setUpHost(c *Cluster, h Host, br netlink.Link) error {
	ns, err := newNamedNetns(h.Netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: h.Veth, MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create veth %s: %w", h.Veth, err)
	}
	host, err := netlink.LinkByName(h.Veth)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return err
	}
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer nh.Close()
	for _, name := range []string{"lo", "eth0"} {
		l, err := nh.LinkByName(name)
		if err != nil {
			return err
		}
		if name == "eth0" {
			if err := nh.AddrReplace(l, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(h.Addr, c.Subnet.Bits()))}); err != nil {
				return err
			}
		}
		if err := nh.LinkSetUp(l); err != nil {
			return err
		}
	}
	eth0, err := nh.LinkByName("eth0")
	if err != nil {
		return err
	}
	route := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.IP(c.Gateway.AsSlice())}
	if err := nh.RouteReplace(route); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	return nil
}

// newNamedNetns creates /run/netns/name as `ip netns add` does, or opens
// it when it exists. The namespace is made on a locked thread that goes
// back to the original namespace before it is unlocked.
func newNamedNetns(name string) (netns.NsHandle, error) {
	if h, err := netns.GetFromName(name); err == nil {
		return h, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return 0, err
	}
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// This thread is in the wrong namespace and must not be reused.
		panic(fmt.Sprintf("localcluster: cannot return to the original network namespace: %v", serr))
	}
	return h, err
}

// tearDownNetwork removes the hosts' namespaces, the veths and the bridge.
// Missing pieces are fine: it may run after a partial set-up.
func tearDownNetwork(c *Cluster) error {
	var errs []error
	for _, h := range c.Hosts {
		if l, err := netlink.LinkByName(h.Veth); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, err)
			}
		}
		path := filepath.Join(netnsDir, h.Netns)
		unix.Unmount(path, unix.MNT_DETACH)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if l, err := netlink.LinkByName(c.Bridge); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
