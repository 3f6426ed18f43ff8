package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
)

// This file runs the node's user-defined local networks (docker network
// create -d bridge): a Linux bridge each, holding the network's gateway,
// and their rules in the shoal table beside the node bridge's, as
// dockerd's bridge driver does with iptables. Containers get a veth on
// each network they are on (Plug), named in their namespace as the
// engine decides (eth0, eth1, …).

// Local is a user-defined bridge network as the kernel carries it.
type Local struct {
	// Name is the Linux bridge's name.
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr
	// Internal networks have no way out: nothing is forwarded to or from
	// their bridge but between its own ports.
	Internal bool
	// Masquerade gives traffic leaving the node the node's address.
	Masquerade bool
	// MTU of the containers' interfaces; 0 keeps the kernel's default.
	MTU int
}

// EnsureLocal makes l's bridge (if missing), gives it the gateway address
// and brings it up. Connections to ports published on 127.0.0.1 leave by
// it after DNAT, hence route_localnet, as on the node bridge; the mesh
// table guards it.
func EnsureLocal(ctx context.Context, l Local) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	link, err := netlink.LinkByName(l.Name)
	if isNotFound(err) {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: l.Name, HardwareAddr: macFor(l.Gateway)}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", l.Name, err)
		}
		link, err = netlink.LinkByName(l.Name)
	}
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", l.Name, err)
	}
	if link.Type() != "bridge" {
		return errdefs.Conflict("interface %s exists and is a %s, not a bridge", l.Name, link.Type())
	}
	gw := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(l.Gateway, l.Subnet.Bits()))}
	if err := netlink.AddrReplace(link, gw); err != nil {
		return fmt.Errorf("set address %s on bridge %s: %w", gw.IPNet, l.Name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring bridge %s up: %w", l.Name, err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+l.Name+"/route_localnet", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("route_localnet on %s: %w", l.Name, err)
	}
	return nil
}

// RemoveLocal deletes bridge name; one that is gone is no error.
func RemoveLocal(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return nil
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// SetLocals replaces the local networks whose rules the shoal table
// holds, and applies the table.
func (b *Bridge) SetLocals(ctx context.Context, locals []Local) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := applyRules(b.cfg.Subnet, b.cfg.Name, locals); err != nil {
		return err
	}
	b.locals = slices.Clone(locals)
	return nil
}

// Plug gives the namespace at nsPath an interface named ifname on l's
// bridge with addr; which interface holds the default route is
// DefaultRoute's. It keeps what exists, so a restarted daemon calls it
// again for every endpoint.
func Plug(ctx context.Context, nsPath, containerID, networkID, ifname string, l Local, addr netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	br, err := netlink.LinkByName(l.Name)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", l.Name, err)
	}
	ns, nh, closeNS, err := openNamespace(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	if lo, err := nh.LinkByName("lo"); err == nil {
		if err := nh.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bring lo up: %w", err)
		}
	}
	ep := &executor.Endpoint{Addr: netip.PrefixFrom(addr, l.Subnet.Bits()), Gateway: l.Gateway, MAC: macFor(addr)}
	host, peer, err := ensureVeth(nh, ns, LocalVethName(containerID, networkID), ifname, br, ep.MAC, l.MTU)
	if err != nil {
		return err
	}
	if err := configurePeer(nh, peer, ep, false); err != nil {
		return err
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
			return fmt.Errorf("attach %s to bridge %s: %w", host.Attrs().Name, l.Name, err)
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring %s up: %w", host.Attrs().Name, err)
	}
	return nil
}

// DefaultRoute routes everything the namespace at nsPath has no better
// route for through gw out of its interface ifname, in place of any
// default route it had; with ifname empty it removes the default route.
func DefaultRoute(ctx context.Context, nsPath, ifname string, gw netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, nh, closeNS, err := openNamespace(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	if ifname != "" {
		link, err := nh.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("find %s in namespace %s: %w", ifname, nsPath, err)
		}
		return setDefaultRoute(nh, link, gw)
	}
	routes, err := nh.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes in namespace %s: %w", nsPath, err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() && isDefaultMask(r.Dst.Mask) {
			if err := nh.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("remove default route via %s: %w", r.Gw, err)
			}
		}
	}
	return nil
}

func isDefaultMask(m []byte) bool {
	ones, _ := net.IPMask(m).Size()
	return ones == 0
}

// Unplug removes the container's interface on network networkID (the
// container's end goes with the host's); one that is gone is no error.
func Unplug(ctx context.Context, containerID, networkID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := LocalVethName(containerID, networkID)
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find veth %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete veth %s: %w", name, err)
	}
	return nil
}

// LocalVethName is the host end's name of a container's interface on a
// local network: shl and 11 hex characters of a hash of the two IDs.
func LocalVethName(containerID, networkID string) string {
	sum := sha256.Sum256([]byte(containerID + "/" + networkID))
	return "shl" + hex.EncodeToString(sum[:])[:11]
}

// ipsDstNAT is conntrack's status bit of a DNATed connection.
const ipsDstNAT = 1 << 5

// addLocalRules adds to the forward chain, before the accepts, what
// keeps networks apart as dockerd's isolation chains do: traffic between
// two ports of one bridge passes, traffic DNATed to a published port
// passes, an internal network's bridge forwards nothing else, and
// nothing goes from one bridge (the node's included) to another.
func addLocalRules(c *nftables.Conn, t *nftables.Table, fwd *nftables.Chain, node string, locals []Local) error {
	if len(locals) == 0 {
		return nil
	}
	all := []string{node}
	for _, l := range locals {
		all = append(all, l.Name)
	}
	set := &nftables.Set{Table: t, Name: "bridges", KeyType: nftables.TypeIFName}
	elems := make([]nftables.SetElement, len(all))
	for i, name := range all {
		elems[i] = nftables.SetElement{Key: ifname(name)}
	}
	if err := c.AddSet(set, elems); err != nil {
		return fmt.Errorf("nftables set of bridges: %w", err)
	}
	rule := func(exprs ...expr.Any) { c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: exprs}) }
	// ct status dnat accept
	rule(
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	)
	for _, name := range all {
		// iifname NAME oifname NAME accept
		rule(
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
			&expr.Verdict{Kind: expr.VerdictAccept},
		)
	}
	for _, l := range locals {
		if !l.Internal {
			continue
		}
		for _, key := range []expr.MetaKey{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME} {
			rule(
				&expr.Meta{Key: key, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(l.Name)},
				&expr.Counter{},
				&expr.Verdict{Kind: expr.VerdictDrop},
			)
		}
	}
	// iifname @bridges oifname @bridges drop
	rule(
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
	return nil
}
