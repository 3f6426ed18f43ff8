// Package bridge gives each container a network namespace of its own,
// attached by a veth pair to a Linux bridge on the node, with outbound
// traffic masqueraded by nftables: what Docker's default bridge (and
// docker_gwbridge for swarm tasks) gives a container.
package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/network/ipam"
	"github.com/shoal-project/shoal/internal/network/ownedns"
)

// Defaults for the zero fields of Config.
const (
	DefaultName        = "shoal0"
	DefaultNetnsDir    = "/run/shoal/netns"
	DefaultNetworkName = "bridge"
)

// DefaultSubnet is the bridge's subnet when Config.Subnet is zero.
var DefaultSubnet = netip.MustParsePrefix("172.29.0.0/16")

// ContainerIfname is the name of the container's end of its veth pair.
const ContainerIfname = "eth0"

// Config says which bridge to run and where to keep its state.
type Config struct {
	// Name is the bridge interface's name (at most 15 bytes); default
	// DefaultName.
	Name string
	// Subnet is the containers' IPv4 subnet; the gateway, held by the
	// bridge, is its first address. Default DefaultSubnet.
	Subnet netip.Prefix
	// StateDir keeps the address allocations across restarts. Required.
	StateDir string
	// NetnsDir is where container namespaces are bind-mounted, apart from
	// /run/netns so that `ip netns` shows only the admin's own. Default
	// DefaultNetnsDir.
	NetnsDir string
	// NetworkName is the name endpoints report; default DefaultNetworkName.
	NetworkName string
	// Logger may be nil, to log nothing.
	Logger *slog.Logger
}

// withDefaults fills the zero fields of cfg and checks the rest.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if len(cfg.Name) >= unix.IFNAMSIZ || strings.ContainsAny(cfg.Name, "/ \t\n:") {
		return cfg, errdefs.Invalid("bridge name %q: want at most %d bytes without '/', ':' or spaces", cfg.Name, unix.IFNAMSIZ-1)
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = DefaultSubnet
	}
	if err := ipam.CheckSubnet(cfg.Subnet); err != nil {
		return cfg, err
	}
	cfg.Subnet = cfg.Subnet.Masked()
	if cfg.StateDir == "" {
		return cfg, errdefs.Invalid("bridge %s: a state directory is required", cfg.Name)
	}
	if cfg.NetnsDir == "" {
		cfg.NetnsDir = DefaultNetnsDir
	}
	if cfg.NetworkName == "" {
		cfg.NetworkName = DefaultNetworkName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// Bridge is the node's default container network. It implements
// executor.Network.
type Bridge struct {
	cfg   Config
	gw    netip.Addr
	alloc *ipam.Allocator
	log   *slog.Logger

	// mu serializes changes, so that no sandbox is made and removed at
	// the same time.
	mu sync.Mutex
	// locals are the node's local networks whose rules the shoal table
	// holds beside the node bridge's; guarded by mu.
	locals []Local
}

var _ executor.Network = (*Bridge)(nil)

// New checks cfg and loads the address allocations from cfg.StateDir. It
// changes nothing on the node: Setup does.
func New(cfg Config) (*Bridge, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	alloc, err := ipam.Open(filepath.Join(cfg.StateDir, cfg.Name+".addresses.json"), cfg.Subnet)
	if err != nil {
		return nil, err
	}
	return &Bridge{
		cfg:   cfg,
		gw:    ipam.Gateway(cfg.Subnet),
		alloc: alloc,
		log:   cfg.Logger.With("bridge", cfg.Name),
	}, nil
}

// Name returns the bridge interface's name.
func (b *Bridge) Name() string { return b.cfg.Name }

// Subnet returns the containers' subnet.
func (b *Bridge) Subnet() netip.Prefix { return b.cfg.Subnet }

// Gateway returns the bridge's own address, the containers' default route.
func (b *Bridge) Gateway() netip.Addr { return b.gw }

// Setup makes the node ready for sandboxes: the bridge, up, holding the
// gateway address; IPv4 forwarding on; and the shoal nftables table, which
// masquerades the subnet's outbound traffic and accepts forwarding to and
// from the bridge. It is safe to call again at any time, e.g. by a
// restarted daemon: the table is replaced whole, never duplicated.
func (b *Bridge) Setup(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()

	br, err := b.ensureBridge()
	if err != nil {
		return err
	}
	gw := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(b.gw, b.cfg.Subnet.Bits()))}
	if err := netlink.AddrReplace(br, gw); err != nil {
		return fmt.Errorf("set address %s on bridge %s: %w", gw.IPNet, b.cfg.Name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring bridge %s up: %w", b.cfg.Name, err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	if err := applyRules(b.cfg.Subnet, b.cfg.Name, b.locals); err != nil {
		return err
	}
	if err := applyGatewayRules(); err != nil {
		return err
	}
	b.log.DebugContext(ctx, "bridge ready", "subnet", b.cfg.Subnet, "gateway", b.gw)
	return nil
}

// ensureBridge returns the bridge link, creating it if missing. Its MAC is
// fixed (derived from the gateway), because a Linux bridge otherwise takes
// the lowest MAC of its ports and changes it as containers come and go,
// which leaves stale gateway entries in the containers' ARP caches.
func (b *Bridge) ensureBridge() (netlink.Link, error) {
	mac := macFor(b.gw)
	link, err := netlink.LinkByName(b.cfg.Name)
	if isNotFound(err) {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.cfg.Name, HardwareAddr: mac}}
		if err := netlink.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("create bridge %s: %w", b.cfg.Name, err)
		}
		link, err = netlink.LinkByName(b.cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("find bridge %s: %w", b.cfg.Name, err)
	}
	if link.Type() != "bridge" {
		return nil, errdefs.Conflict("interface %s exists and is a %s, not a bridge", b.cfg.Name, link.Type())
	}
	if !bytes.Equal(link.Attrs().HardwareAddr, mac) {
		if err := netlink.LinkSetHardwareAddr(link, mac); err != nil {
			return nil, fmt.Errorf("set MAC of bridge %s: %w", b.cfg.Name, err)
		}
	}
	return link, nil
}

// Teardown removes the bridge and the node's nftables tables. Sandboxes are
// left as they are; Release them first. It is meant for tests and for
// uninstalling.
func (b *Bridge) Teardown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	if link, err := netlink.LinkByName(b.cfg.Name); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", b.cfg.Name, err))
		}
	} else if !isNotFound(err) {
		errs = append(errs, fmt.Errorf("find bridge %s: %w", b.cfg.Name, err))
	}
	if err := deleteRules(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Sandbox returns the network namespace of container id, attached to the
// bridge, and its endpoint there. It makes whatever is missing (namespace,
// veth pair, address, route) and keeps what exists, so a restarted daemon
// adopts the sandboxes of running containers by calling it again. With
// wayOut the interface is only the container's way out of its overlays
// (dockerd's docker_gwbridge): the bridge forwards nothing between it
// and another port (gatewayRules).
func (b *Bridge) Sandbox(ctx context.Context, id string, wayOut bool) (string, *executor.Endpoint, error) {
	if err := checkID(id); err != nil {
		return "", nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()

	path := b.nsPath(id)
	existed, err := ownedns.Mounted(path)
	if err != nil {
		return "", nil, err
	}
	addr, err := b.alloc.Allocate(id)
	if err != nil {
		return "", nil, err
	}
	ep := b.endpoint(addr)
	if err := b.attach(path, id, ep, true, wayOut); err != nil {
		// Undo only a sandbox made just now: an existing one may have a
		// running container in it.
		if !existed {
			if rerr := b.release(id); rerr != nil {
				b.log.WarnContext(ctx, "undo failed sandbox", "container.id", id, "err", rerr)
			}
		}
		return "", nil, fmt.Errorf("sandbox for %s: %w", id, err)
	}
	b.log.DebugContext(ctx, "sandbox ready", "container.id", id, "addr", ep.Addr, "adopted", existed)
	return path, ep, nil
}

// Isolated returns the network namespace of container id with nothing
// but its loopback: for a task whose networks are all internal, which
// gets no way out through the bridge. It makes the namespace if missing.
func (b *Bridge) Isolated(ctx context.Context, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	path := b.nsPath(id)
	if ok, err := ownedns.Mounted(path); err != nil {
		return "", err
	} else if !ok {
		if err := createNetns(path); err != nil {
			return "", err
		}
	}
	_, nh, closeNS, err := openNamespace(path)
	if err != nil {
		return "", err
	}
	defer closeNS()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("find lo: %w", err)
	}
	if err := nh.LinkSetUp(lo); err != nil {
		return "", fmt.Errorf("bring lo up: %w", err)
	}
	return path, nil
}

// Join gives the existing namespace of container id an interface named
// ifname on the bridge, with an address of its own and no route: docker
// network connect bridge, on a container whose network mode is another
// network (or that was disconnected from the bridge), or its way out of
// an overlay (wayOut, as Sandbox). Which interface holds the default
// route is the caller's (DefaultRoute). It keeps what exists.
func (b *Bridge) Join(ctx context.Context, id, ifname string, wayOut bool) (*executor.Endpoint, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	path := b.nsPath(id)
	if ok, err := ownedns.Mounted(path); err != nil {
		return nil, err
	} else if !ok {
		return nil, errdefs.Conflict("container %s has no network namespace to join bridge %s from", id, b.cfg.Name)
	}
	addr, err := b.alloc.Allocate(id)
	if err != nil {
		return nil, err
	}
	ep := b.endpoint(addr)
	ep.Ifname = ifname
	if err := b.attach(path, id, ep, false, wayOut); err != nil {
		if lerr := b.leave(id); lerr != nil {
			b.log.WarnContext(ctx, "undo a failed join", "container.id", id, "err", lerr)
		}
		return nil, fmt.Errorf("join %s to bridge %s: %w", id, b.cfg.Name, err)
	}
	return ep, nil
}

// Leave removes container id's interface on the bridge and frees its
// address, keeping its namespace: docker network disconnect bridge. One
// that is gone is no error.
func (b *Bridge) Leave(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leave(id)
}

// leave does Leave's work; the caller holds mu.
func (b *Bridge) leave(id string) error {
	if err := deleteVeths(id); err != nil {
		return err
	}
	return b.alloc.Release(id)
}

// deleteVeths deletes container id's veth on the bridge, by either of
// its names. Deleting the host end deletes the container's end with it,
// even while a process keeps the namespace alive.
func deleteVeths(id string) error {
	for _, name := range []string{vethName(id, false), vethName(id, true)} {
		link, err := netlink.LinkByName(name)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("find veth %s: %w", name, err)
		}
		if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete veth %s: %w", name, err)
		}
	}
	return nil
}

// attach brings the namespace at path to the state ep describes: an
// interface named ep.Ifname (ContainerIfname when empty) and, with
// route, the default route through the bridge; its host end is named as
// wayOut says (vethName).
func (b *Bridge) attach(path, id string, ep *executor.Endpoint, route, wayOut bool) error {
	br, err := netlink.LinkByName(b.cfg.Name)
	if isNotFound(err) {
		return errdefs.Unavailable("bridge %s does not exist: the network is not set up", b.cfg.Name)
	}
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", b.cfg.Name, err)
	}
	if ok, err := ownedns.Mounted(path); err != nil {
		return err
	} else if !ok {
		if err := createNetns(path); err != nil {
			return err
		}
	}
	ns, nh, closeNS, err := openNamespace(path)
	if err != nil {
		return err
	}
	defer closeNS()

	lo, err := nh.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := nh.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}

	ifname := ep.Ifname
	if ifname == "" {
		ifname = ContainerIfname
	}
	host, peer, err := ensureVeth(nh, ns, vethName(id, wayOut), ifname, br, ep.MAC, 0)
	if err != nil {
		return err
	}
	if err := configurePeer(nh, peer, ep, route); err != nil {
		return err
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
			return fmt.Errorf("attach %s to bridge %s: %w", host.Attrs().Name, b.cfg.Name, err)
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring %s up: %w", host.Attrs().Name, err)
	}
	return nil
}

// ensureVeth returns the host end (named hostName) and the container end
// (peerName in the namespace) of a veth pair, making the pair if the two
// are not already each other's peer. mtu 0 keeps the kernel's default.
func ensureVeth(nh *netlink.Handle, ns netns.NsHandle, hostName, peerName string, br netlink.Link, mac net.HardwareAddr, mtu int) (netlink.Link, netlink.Link, error) {
	host, herr := netlink.LinkByName(hostName)
	peer, perr := nh.LinkByName(peerName)
	for _, err := range []error{herr, perr} {
		if err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("find veth %s: %w", hostName, err)
		}
	}
	if herr == nil && perr == nil && paired(host, peer) {
		return host, peer, nil
	}
	// Whatever half is left is of no use: remove it and start over.
	if herr == nil {
		if err := netlink.LinkDel(host); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete stale %s: %w", hostName, err)
		}
	}
	if perr == nil {
		if err := nh.LinkDel(peer); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete stale %s: %w", peerName, err)
		}
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: hostName, MasterIndex: br.Attrs().Index, MTU: mtu},
		PeerName:         peerName,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(ns),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth %s: %w", hostName, err)
	}
	host, err := netlink.LinkByName(hostName)
	if err != nil {
		return nil, nil, fmt.Errorf("find new veth %s: %w", hostName, err)
	}
	peer, err = nh.LinkByName(peerName)
	if err != nil {
		return nil, nil, fmt.Errorf("find new %s in namespace: %w", peerName, err)
	}
	return host, peer, nil
}

// paired reports whether host and peer are the two ends of one veth pair:
// each names the other's index as its link.
func paired(host, peer netlink.Link) bool {
	return host.Type() == "veth" && peer.Type() == "veth" &&
		host.Attrs().ParentIndex == peer.Attrs().Index &&
		peer.Attrs().ParentIndex == host.Attrs().Index
}

// configurePeer gives the container's interface ep's MAC and address (and
// no other), brings it up and, with route, routes everything else via
// the gateway.
func configurePeer(nh *netlink.Handle, peer netlink.Link, ep *executor.Endpoint, route bool) error {
	ifname := peer.Attrs().Name
	if !bytes.Equal(peer.Attrs().HardwareAddr, ep.MAC) {
		if err := nh.LinkSetHardwareAddr(peer, ep.MAC); err != nil {
			return fmt.Errorf("set MAC of %s: %w", ifname, err)
		}
	}
	addrs, err := nh.AddrList(peer, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	want := ipNet(ep.Addr)
	for _, a := range addrs {
		if a.IPNet.String() != want.String() {
			if err := nh.AddrDel(peer, &a); err != nil {
				return fmt.Errorf("remove stale address %s: %w", a.IPNet, err)
			}
		}
	}
	if err := nh.AddrReplace(peer, &netlink.Addr{IPNet: want}); err != nil {
		return fmt.Errorf("set address %s: %w", want, err)
	}
	if err := nh.LinkSetUp(peer); err != nil {
		return fmt.Errorf("bring %s up: %w", ifname, err)
	}
	if !route {
		return nil
	}
	return setDefaultRoute(nh, peer, ep.Gateway)
}

// setDefaultRoute routes everything the namespace has no better route
// for through gw, out of link.
func setDefaultRoute(nh *netlink.Handle, link netlink.Link, gw netip.Addr) error {
	route := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        net.IP(gw.AsSlice()),
	}
	if err := nh.RouteReplace(route); err != nil {
		return fmt.Errorf("set default route via %s: %w", gw, err)
	}
	return nil
}

// Release removes container id's sandbox: its veth pair, its namespace file
// and its address. Releasing a sandbox that is gone, or was never made, is
// not an error.
func (b *Bridge) Release(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.release(id); err != nil {
		return fmt.Errorf("release sandbox of %s: %w", id, err)
	}
	b.log.DebugContext(ctx, "sandbox released", "container.id", id)
	return nil
}

// release does Release's work; the caller holds mu. The address is freed
// last, so that it is never handed out while an interface may still hold it.
func (b *Bridge) release(id string) error {
	if err := deleteVeths(id); err != nil {
		return err
	}
	if err := ownedns.Remove(b.nsPath(id)); err != nil {
		return err
	}
	return b.alloc.Release(id)
}

func (b *Bridge) nsPath(id string) string { return filepath.Join(b.cfg.NetnsDir, id) }

// NetnsPath returns where the namespace of container id is (or will be)
// mounted.
func (b *Bridge) NetnsPath(id string) string { return b.nsPath(id) }

// endpoint describes the interface of a container at addr.
func (b *Bridge) endpoint(addr netip.Addr) *executor.Endpoint {
	return &executor.Endpoint{
		NetworkName: b.cfg.NetworkName,
		Addr:        netip.PrefixFrom(addr, b.cfg.Subnet.Bits()),
		Gateway:     b.gw,
		MAC:         macFor(addr),
	}
}

// checkID refuses ids that cannot be a file name in NetnsDir.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return errdefs.Invalid("invalid container id %q for a network sandbox", id)
	}
	return nil
}

// vethName is the host end's name for container id: short enough for
// IFNAMSIZ, and the same on every call, so a restarted daemon finds it.
// A way out's starts with wayOutPrefix, which gatewayRules match.
func vethName(id string, wayOut bool) string {
	sum := sha256.Sum256([]byte(id))
	if wayOut {
		return wayOutPrefix + hex.EncodeToString(sum[:])[:7]
	}
	return "veth" + hex.EncodeToString(sum[:])[:7]
}

// macFor derives a MAC from an IPv4 address as Docker does: locally
// administered 02:42 followed by the address, so a reused address comes
// back with the same MAC and neighbours' ARP caches stay right.
func macFor(addr netip.Addr) net.HardwareAddr {
	a := addr.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// openNamespace opens the network namespace at path and a netlink handle
// in it; close releases both.
func openNamespace(path string) (ns netns.NsHandle, nh *netlink.Handle, close func(), err error) {
	ns, err = netns.GetFromPath(path)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	nh, err = netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return 0, nil, nil, fmt.Errorf("netlink in namespace %s: %w", path, err)
	}
	return ns, nh, func() { nh.Close(); ns.Close() }, nil
}
