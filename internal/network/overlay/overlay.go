// Package overlay builds a node's side of the swarm's overlay networks
// with netlink: for each network a Linux bridge and a VXLAN device in the
// node's namespace, the static forwarding and neighbour entries that send
// each remote endpoint's frames to its node (the VXLAN device answers ARP
// for them itself), and the veth pairs that put tasks' namespaces on the
// bridges. Every call converges what exists to what is asked, so a
// restarted daemon adopts what it finds.
package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/network/view"
)

// VXLANOverhead is what VXLAN over IPv4 adds to each frame.
const VXLANOverhead = 50

// Link name prefixes; the rest is the start of the network's ID.
const (
	bridgePrefix = "shb-"
	vxlanPrefix  = "shx-"
	vethPrefix   = "shv"
	idChars      = unix.IFNAMSIZ - 1 - len(bridgePrefix)
)

// BridgeName is the name of a network's bridge on the node.
func BridgeName(networkID string) string { return bridgePrefix + short(networkID) }

// VXLANName is the name of a network's VXLAN device on the node.
func VXLANName(networkID string) string { return vxlanPrefix + short(networkID) }

func short(id string) string {
	if len(id) > idChars {
		return id[:idChars]
	}
	return id
}

// Network is what a node needs to carry one overlay network.
type Network struct {
	ID  string
	VNI uint32
	// Port is the VXLAN UDP port (the swarm's data path port).
	Port uint16
	// Source, when valid, is the address VXLAN packets leave from (the
	// node's --data-path-addr); otherwise the kernel picks by route.
	Source netip.Addr
	// MTU is the bridge's, the VXLAN device's and the tasks' interfaces'.
	MTU int
	// Addr, when valid, is the node's own address on the network, held
	// by the bridge (the routing mesh's, on the ingress network).
	Addr netip.Prefix
}

// Ensure makes the network's bridge and VXLAN device exist, up, as n
// describes them. A VXLAN device whose ID or port changed is made anew.
func Ensure(ctx context.Context, n Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	br, err := ensureBridge(BridgeName(n.ID), n.MTU)
	if err != nil {
		return err
	}
	vx, err := ensureVXLAN(n, br)
	if err != nil {
		return err
	}
	if err := setAddr(br, n.Addr); err != nil {
		return err
	}
	for _, l := range []netlink.Link{vx, br} {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("bring %s up: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

func ensureBridge(name string, mtu int) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		attrs := netlink.LinkAttrs{Name: name, MTU: mtu}
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		link, err = netlink.LinkByName(name)
	}
	if err != nil {
		return nil, fmt.Errorf("find bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return nil, fmt.Errorf("interface %s exists and is a %s, not a bridge", name, link.Type())
	}
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("set MTU of %s: %w", name, err)
		}
	}
	return link, nil
}

func ensureVXLAN(n Network, br netlink.Link) (netlink.Link, error) {
	name := VXLANName(n.ID)
	link, err := netlink.LinkByName(name)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("find %s: %w", name, err)
	}
	if err == nil {
		vx, ok := link.(*netlink.Vxlan)
		if ok && vx.VxlanId == int(n.VNI) && vx.Port == int(n.Port) && sameIP(vx.SrcAddr, n.Source) {
			return attach(vx, br, n.MTU)
		}
		if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("delete changed %s: %w", name, err)
		}
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: n.MTU},
		VxlanId:   int(n.VNI),
		Port:      int(n.Port),
		// Entries are static: no learning from traffic, and ARP for
		// remote endpoints answered here from the neighbour table.
		Learning: false,
		Proxy:    true,
	}
	if n.Source.IsValid() {
		vx.SrcAddr = net.IP(n.Source.AsSlice())
	}
	if err := netlink.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("create %s (VNI %d, port %d): %w", name, n.VNI, n.Port, err)
	}
	link, err = netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find new %s: %w", name, err)
	}
	return attach(link, br, n.MTU)
}

func sameIP(ip net.IP, a netip.Addr) bool {
	if !a.IsValid() {
		return len(ip) == 0 || ip.IsUnspecified()
	}
	return ip.Equal(net.IP(a.AsSlice()))
}

// attach puts link on the bridge with the MTU.
func attach(link, br netlink.Link, mtu int) (netlink.Link, error) {
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("set MTU of %s: %w", link.Attrs().Name, err)
		}
	}
	if link.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMasterByIndex(link, br.Attrs().Index); err != nil {
			return nil, fmt.Errorf("put %s on %s: %w", link.Attrs().Name, br.Attrs().Name, err)
		}
	}
	return link, nil
}

// setAddr makes want the bridge's only IPv4 address (none when invalid),
// with the MAC derived from it, which is what other nodes' entries for
// this node's address point at.
func setAddr(br netlink.Link, want netip.Prefix) error {
	if want.IsValid() {
		if mac := view.MAC(want.Addr()); !bytes.Equal(br.Attrs().HardwareAddr, mac) {
			if err := netlink.LinkSetHardwareAddr(br, mac); err != nil {
				return fmt.Errorf("set MAC of %s: %w", br.Attrs().Name, err)
			}
		}
	}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", br.Attrs().Name, err)
	}
	for _, a := range addrs {
		if !want.IsValid() || a.IPNet.String() != ipNet(want).String() {
			if err := netlink.AddrDel(br, &a); err != nil {
				return fmt.Errorf("remove %s from %s: %w", a.IPNet, br.Attrs().Name, err)
			}
		}
	}
	if want.IsValid() {
		if err := netlink.AddrReplace(br, &netlink.Addr{IPNet: ipNet(want)}); err != nil {
			return fmt.Errorf("set %s on %s: %w", want, br.Attrs().Name, err)
		}
	}
	return nil
}

// Remove deletes a network's bridge and VXLAN device; their forwarding
// and neighbour entries go with them. Tasks' veths on the bridge are
// left detached: Detach them first.
func Remove(ctx context.Context, networkID string) error {
	var errs []error
	for _, name := range []string{VXLANName(networkID), BridgeName(networkID)} {
		link, err := netlink.LinkByName(name)
		if isNotFound(err) {
			continue
		}
		if err == nil {
			err = netlink.LinkDel(link)
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Present returns the IDs' prefixes of the networks whose bridges exist
// on the node, as BridgeName shortens them, so a caller can remove those
// no longer wanted.
func Present() ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, bridgePrefix) && l.Type() == "bridge" {
			out = append(out, strings.TrimPrefix(name, bridgePrefix))
		}
	}
	return out, nil
}

// Remote is an endpoint on another node: frames for Addr go to the node
// at VTEP.
type Remote struct {
	Addr netip.Addr
	VTEP netip.Addr
}

// SetRemotes makes the network's VXLAN forwarding entries (MAC → VTEP)
// and neighbour entries (address → MAC) exactly those of remotes: new
// ones are added, changed ones replaced, and those of endpoints that left
// removed, so no entry outlives its endpoint's move.
func SetRemotes(ctx context.Context, networkID string, remotes []Remote) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := VXLANName(networkID)
	vx, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	idx := vx.Attrs().Index
	wantFDB := map[string]netip.Addr{} // MAC → VTEP
	wantNeigh := map[netip.Addr]bool{}
	for _, r := range remotes {
		wantFDB[view.MAC(r.Addr).String()] = r.VTEP
		wantNeigh[r.Addr] = true
	}
	fdb, err := netlink.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("list forwarding entries of %s: %w", name, err)
	}
	haveFDB := map[string]bool{}
	for _, e := range fdb {
		mac := e.HardwareAddr.String()
		if e.Flags&netlink.NTF_SELF == 0 || len(e.IP) == 0 {
			continue // the bridge's own entries for the port
		}
		want, ok := wantFDB[mac]
		if ok && sameIP(e.IP, want) {
			haveFDB[mac] = true
			continue
		}
		if err := netlink.NeighDel(&e); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove forwarding entry %s on %s: %w", mac, name, err)
		}
	}
	for mac, vtep := range wantFDB {
		if haveFDB[mac] {
			continue
		}
		hw, _ := net.ParseMAC(mac)
		e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
			HardwareAddr: hw, IP: net.IP(vtep.AsSlice())}
		if err := netlink.NeighSet(e); err != nil {
			return fmt.Errorf("add forwarding entry %s → %s on %s: %w", mac, vtep, name, err)
		}
	}
	neighs, err := netlink.NeighList(idx, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("list neighbours of %s: %w", name, err)
	}
	haveNeigh := map[netip.Addr]bool{}
	for _, e := range neighs {
		a, ok := netip.AddrFromSlice(e.IP.To4())
		if ok && wantNeigh[a] && bytes.Equal(e.HardwareAddr, view.MAC(a)) && e.State == netlink.NUD_PERMANENT {
			haveNeigh[a] = true
			continue
		}
		if err := netlink.NeighDel(&e); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove neighbour %s on %s: %w", e.IP, name, err)
		}
	}
	for a := range wantNeigh {
		if haveNeigh[a] {
			continue
		}
		e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: net.IP(a.AsSlice()), HardwareAddr: view.MAC(a)}
		if err := netlink.NeighSet(e); err != nil {
			return fmt.Errorf("add neighbour %s on %s: %w", a, name, err)
		}
	}
	return nil
}

// Endpoint is a task's interface on one network.
type Endpoint struct {
	NetworkID string
	Ifname    string       // its name in the task's namespace: eth1, eth2, …
	Addr      netip.Prefix // its address, with the network's prefix length
	MTU       int
}

// VethName is the host end of a container's veth on a network.
func VethName(containerID, networkID string) string {
	sum := sha256.Sum256([]byte(containerID + "/" + networkID))
	return vethPrefix + hex.EncodeToString(sum[:])[:unix.IFNAMSIZ-1-len(vethPrefix)]
}

// Attach gives the namespace at nsPath an interface on each endpoint's
// network: a veth pair whose host end is on the network's bridge and
// whose other end, named ep.Ifname, holds ep.Addr and the MAC derived
// from it. What exists and matches is kept.
func Attach(ctx context.Context, nsPath, containerID string, eps []Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in namespace %s: %w", nsPath, err)
	}
	defer nh.Close()
	for _, ep := range eps {
		if err := attachOne(nh, ns, containerID, ep); err != nil {
			return fmt.Errorf("attach to network %s: %w", ep.NetworkID, err)
		}
	}
	return nil
}

func attachOne(nh *netlink.Handle, ns netns.NsHandle, containerID string, ep Endpoint) error {
	brName := BridgeName(ep.NetworkID)
	br, err := netlink.LinkByName(brName)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", brName, err)
	}
	hostName := VethName(containerID, ep.NetworkID)
	mac := view.MAC(ep.Addr.Addr())
	host, herr := netlink.LinkByName(hostName)
	peer, perr := nh.LinkByName(ep.Ifname)
	if herr != nil || perr != nil || host.Attrs().ParentIndex != peer.Attrs().Index || peer.Attrs().ParentIndex != host.Attrs().Index {
		// Whatever half is left is of no use.
		if herr == nil {
			netlink.LinkDel(host)
		}
		if perr == nil {
			nh.LinkDel(peer)
		}
		veth := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: hostName, MasterIndex: br.Attrs().Index, MTU: ep.MTU},
			PeerName:         ep.Ifname,
			PeerHardwareAddr: mac,
			PeerNamespace:    netlink.NsFd(ns),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s: %w", hostName, err)
		}
		if host, err = netlink.LinkByName(hostName); err != nil {
			return fmt.Errorf("find new veth %s: %w", hostName, err)
		}
		if peer, err = nh.LinkByName(ep.Ifname); err != nil {
			return fmt.Errorf("find new %s in the namespace: %w", ep.Ifname, err)
		}
	}
	if ep.MTU > 0 && peer.Attrs().MTU != ep.MTU {
		if err := nh.LinkSetMTU(peer, ep.MTU); err != nil {
			return fmt.Errorf("set MTU of %s: %w", ep.Ifname, err)
		}
	}
	if !bytes.Equal(peer.Attrs().HardwareAddr, mac) {
		if err := nh.LinkSetHardwareAddr(peer, mac); err != nil {
			return fmt.Errorf("set MAC of %s: %w", ep.Ifname, err)
		}
	}
	if err := nh.AddrReplace(peer, &netlink.Addr{IPNet: ipNet(ep.Addr)}); err != nil {
		return fmt.Errorf("set %s on %s: %w", ep.Addr, ep.Ifname, err)
	}
	if err := nh.LinkSetUp(peer); err != nil {
		return fmt.Errorf("bring %s up: %w", ep.Ifname, err)
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
			return fmt.Errorf("put %s on %s: %w", hostName, brName, err)
		}
	}
	return netlink.LinkSetUp(host)
}

// Detach removes a container's interfaces on the networks (deleting the
// host end of a veth deletes both ends). Detaching what is gone is not an
// error.
func Detach(ctx context.Context, containerID string, networkIDs []string) error {
	var errs []error
	for _, id := range networkIDs {
		name := VethName(containerID, id)
		link, err := netlink.LinkByName(name)
		if err == nil {
			err = netlink.LinkDel(link)
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}
