// Package encrypt carries the VXLAN traffic of encrypted overlay networks
// between nodes through a WireGuard tunnel run in user space
// (wireguard-go over a TUN device, in the daemon's own process): the node's
// key, the tunnel device and its peers, and the nftables guard that drops
// plain VXLAN for encrypted networks arriving outside the tunnel.
package encrypt

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// DefaultName is the tunnel device's name on every node.
const DefaultName = "shwg0"

// DefaultMTU is the tunnel device's MTU: a 1500-byte underlay less
// WireGuard's overhead with an IPv6 outer header, the worst case (40 IPv6 +
// 8 UDP + 16 WireGuard header + 16 authentication tag = 80). It is also
// wireguard-go's own default.
const DefaultMTU = 1500 - 80

// VXLANOverhead is what VXLAN adds to each frame: outer IPv4 20, UDP 8,
// VXLAN 8, inner Ethernet 14.
const VXLANOverhead = 50

// OverlayMTU is the MTU of an encrypted network's VXLAN device and of the
// task interfaces on it: the tunnel's MTU less VXLAN's overhead. Plain
// overlays have 1500 - 50 = 1450, as Docker's.
const OverlayMTU = DefaultMTU - VXLANOverhead

// DefaultPort is the tunnel's UDP port when the swarm's data path port is
// Docker's default 4789.
const DefaultPort = 4790

// Port is the tunnel's UDP port in a swarm whose VXLAN data path port is
// dataPathPort: the next one, so that every node derives the same port
// from what the view already says, and a firewall opens two neighbouring
// ports. (Docker allows data path ports up to 49151; 65535, were it
// ever given, has 65534.)
func Port(dataPathPort uint16) uint16 {
	switch dataPathPort {
	case 0:
		return DefaultPort
	case 65535:
		return 65534
	}
	return dataPathPort + 1
}

// Config says which tunnel to run.
type Config struct {
	// Name is the TUN device's name (at most 15 bytes); default
	// DefaultName.
	Name string
	// PrivateKey is the node's key, from LoadOrCreateKey. Required.
	PrivateKey Key
	// Addr is the node's tunnel address and the tunnel prefix (say
	// 10.255.0.7/16): the device holds the address as a /32, and a route
	// sends the whole prefix into the device. IPv4. Required.
	Addr netip.Prefix
	// ListenPort is the UDP port the tunnel receives on and its peers send
	// to; default DefaultPort.
	ListenPort uint16
	// MTU is the device's MTU; default DefaultMTU.
	MTU int
	// Logger may be nil, to log nothing.
	Logger *slog.Logger
}

// Peer is another node on the tunnel.
type Peer struct {
	// PublicKey is the peer's key, base64 as wg(8) shows it.
	PublicKey string
	// Endpoint is the peer's underlay address and its tunnel's UDP port.
	Endpoint netip.AddrPort
	// Addr is the peer's tunnel address: the only source the tunnel
	// accepts from the peer and the address it sends to the peer.
	Addr netip.Addr
}

// Tunnel is a running WireGuard device.
type Tunnel struct {
	cfg Config
	dev *device.Device
	log *slog.Logger

	mu sync.Mutex
	// peers are the peers the device has, by public key; guarded by mu.
	// Nil after a change that failed part way, when what the device has
	// is unknown: the next SetPeers then replaces them all.
	peers  map[string]Peer
	closed bool // guarded by mu
}

// Start creates the TUN device in the calling process's network namespace,
// with the node's tunnel address and a route for the tunnel prefix, and
// starts WireGuard on it with no peers. The tunnel runs until Close; ctx
// bounds only the start.
//
// The namespace must be the whole process's: wireguard-go opens its UDP
// sockets and looks the device up by name from goroutines of its own,
// whatever OS thread they run on.
func Start(ctx context.Context, cfg Config) (*Tunnel, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("tunnel", cfg.Name)
	tdev, err := tun.CreateTUN(cfg.Name, cfg.MTU)
	if err != nil {
		return nil, fmt.Errorf("create TUN device %s: %w", cfg.Name, err)
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), wgLogger(log))
	if err := dev.IpcSet(deviceUAPI(cfg.PrivateKey, cfg.ListenPort)); err != nil {
		dev.Close()
		// The UDP socket is bound here rather than at Up when the TUN
		// device came up on its own first (wireguard-go binds as soon as
		// it sees the link up), so this error too can be a taken port.
		return nil, fmt.Errorf("configure tunnel %s on udp port %d: %w", cfg.Name, cfg.ListenPort, err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("start tunnel %s on udp port %d: %w", cfg.Name, cfg.ListenPort, err)
	}
	if err := configureLink(cfg.Name, cfg.Addr); err != nil {
		dev.Close()
		return nil, err
	}
	log.Info("tunnel started", "addr", cfg.Addr, "port", cfg.ListenPort, "public_key", cfg.PrivateKey.Public())
	return &Tunnel{cfg: cfg, dev: dev, log: log, peers: map[string]Peer{}}, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.ListenPort == 0 {
		cfg.ListenPort = DefaultPort
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case len(cfg.Name) >= 16:
		return cfg, errdefs.Invalid("tunnel name %q is longer than 15 bytes", cfg.Name)
	case !cfg.PrivateKey.valid():
		return cfg, errdefs.Invalid("tunnel %s has no private key", cfg.Name)
	case !cfg.Addr.IsValid() || !cfg.Addr.Addr().Is4():
		return cfg, errdefs.Invalid("tunnel address %v: want an IPv4 address with its prefix length", cfg.Addr)
	case cfg.Addr.Bits() > 30:
		return cfg, errdefs.Invalid("tunnel address %s: the prefix must be /30 or wider to hold more than one node", cfg.Addr)
	case cfg.MTU < 576 || cfg.MTU > 65535:
		return cfg, errdefs.Invalid("tunnel MTU %d: want 576 to 65535", cfg.MTU)
	}
	return cfg, nil
}

// configureLink gives the device the node's address, sets it up and routes
// the tunnel prefix into it, from the node's address.
func configureLink(name string, addr netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find tunnel device %s: %w", name, err)
	}
	host := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: host}); err != nil {
		return fmt.Errorf("set address %s on %s: %w", addr.Addr(), name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	prefix := addr.Masked()
	route := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       &net.IPNet{IP: prefix.Addr().AsSlice(), Mask: net.CIDRMask(prefix.Bits(), 32)},
		Src:       addr.Addr().AsSlice(),
		Scope:     netlink.SCOPE_LINK,
	}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("route %s into %s: %w", prefix, name, err)
	}
	return nil
}

// SetPeers makes the tunnel's peers exactly peers: new ones are added,
// changed ones updated and the rest removed. Sessions with unchanged peers
// go on undisturbed, and a call that changes nothing does nothing. Bad
// peers are refused as a whole, with nothing changed.
func (t *Tunnel) SetPeers(peers []Peer) error {
	desired, err := checkPeers(t.cfg.PrivateKey.Public(), t.cfg.Addr, peers)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errdefs.Unavailable("tunnel %s is closed", t.cfg.Name)
	}
	uapi := peersUAPI(t.peers, desired)
	if uapi == "" {
		return nil
	}
	if err := t.dev.IpcSet(uapi); err != nil {
		t.peers = nil
		return fmt.Errorf("set peers of tunnel %s: %w", t.cfg.Name, err)
	}
	t.peers = desired
	t.log.Debug("tunnel peers set", "peers", len(desired))
	return nil
}

// Done is closed when the tunnel has stopped: after Close, or when its
// device went away under it (deleted by someone else).
func (t *Tunnel) Done() <-chan struct{} { return t.dev.Wait() }

// Close stops the tunnel. The TUN device, its address and route go with
// it.
func (t *Tunnel) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	t.dev.Close()
}

// wgLogger sends wireguard-go's log to log: its errors are mostly peers
// that cannot be reached yet, so they are warnings.
func wgLogger(log *slog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
		Errorf:   func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) },
	}
}
