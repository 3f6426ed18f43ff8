// Package dataplane converges a node's kernel networking to what its
// manager sent it (view.Node) and to the task containers it runs: the
// overlay networks' bridges, VXLAN devices and forwarding entries, the
// tasks' interfaces on them, their DNS servers, the load-balancing rules
// and the WireGuard tunnel of encrypted networks. It is level-triggered:
// every view is turned into the whole desired state again, so a missed
// change costs nothing and a restarted daemon adopts what it finds.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/network/encrypt"
	"github.com/shoal-project/shoal/internal/network/lb"
	"github.com/shoal-project/shoal/internal/network/overlay"
	"github.com/shoal-project/shoal/internal/network/resolver"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/network/view"
	"github.com/shoal-project/shoal/internal/store"
)

// DefaultMTU is the underlay's MTU when Config.MTU is zero.
const DefaultMTU = 1500

// wireGuardOverhead is what the tunnel adds to a packet (with an IPv6
// outer header, the worst case).
const wireGuardOverhead = 1500 - encrypt.DefaultMTU

// Config sets up a Dataplane.
type Config struct {
	// NetnsPath returns where a container's network namespace is
	// mounted (the node bridge keeps them).
	NetnsPath func(containerID string) string
	// ContainerID returns the ID of the container that runs a task.
	ContainerID func(taskID string) string
	// Resolver runs the containers' DNS servers.
	Resolver *resolver.Manager
	// KeyPath is the file of the node's WireGuard key, made on first use.
	KeyPath string
	// NodeBridge is the bridge that holds the tasks' default route.
	NodeBridge string
	// MTU is the underlay's; default DefaultMTU.
	MTU    int
	Logger *slog.Logger
}

// Dataplane is a node's networking for swarm tasks. Its methods are safe
// for concurrent use.
type Dataplane struct {
	cfg Config
	key encrypt.Key
	log *slog.Logger

	mu sync.Mutex
	// view is the latest view (nil before the first); seq counts views.
	view *view.Node
	seq  uint64
	// attached are the containers given interfaces, by container ID.
	attached map[string]*attachment
	// tunnel carries encrypted networks; nil while there are none.
	tunnel *encrypt.Tunnel
	// mesh is the routing mesh applied last (zero before the first).
	mesh lb.Mesh
	// hostPorts are the host-mode ports of this node's tasks as the node
	// publishes them, by task ID.
	hostPorts map[string][]swarm.PortConfig
	// bridgeAddrs are local tasks' addresses on the node bridge, by task.
	bridgeAddrs map[string]netip.Addr
	// containerPorts are the host ports plain containers publish, by
	// container ID (ports.go).
	containerPorts map[string][]lb.HostPort
}

// attachment is what a container was given.
type attachment struct {
	taskID string
	// plain attachments are a plain container's (PlugContainer), which
	// the engine detaches, never a view.
	plain    bool
	nsPath   string
	networks []string // the IDs of the networks it has an interface on
	// seq is the view current when it was attached: a later view
	// without its task means the task ended.
	seq uint64
	// vips are the VIP rules applied in its namespace, once vipsApplied.
	vips        []lb.VIP
	vipsApplied bool
}

// New loads (or makes) the node's tunnel key. It changes nothing on the
// node until a view or a container arrives.
func New(cfg Config) (*Dataplane, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	key, err := encrypt.LoadOrCreateKey(cfg.KeyPath)
	if err != nil {
		return nil, err
	}
	return &Dataplane{cfg: cfg, key: key, log: cfg.Logger, attached: map[string]*attachment{},
		hostPorts: map[string][]swarm.PortConfig{}, bridgeAddrs: map[string]netip.Addr{},
		containerPorts: map[string][]lb.HostPort{}}, nil
}

// PublicKey is the node's WireGuard public key, which its agent sends to
// the managers so that peers can reach its encrypted networks.
func (d *Dataplane) PublicKey() string { return d.key.Public() }

// SetView converges the node to v.
func (d *Dataplane) SetView(ctx context.Context, v *view.Node) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.view = v
	d.seq++
	return d.reconcile(ctx)
}

// Attach gives a task's container, whose namespace is at nsPath, an
// interface on each network the task is attached to, a DNS server and its
// load-balancing rules, before the task starts. It returns the endpoints
// made, for docker inspect.
func (d *Dataplane) Attach(ctx context.Context, containerID, nsPath string, t *swarm.Task) ([]executor.Endpoint, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attach(ctx, containerID, nsPath, t)
}

func (d *Dataplane) attach(ctx context.Context, containerID, nsPath string, t *swarm.Task) ([]executor.Endpoint, error) {
	nets, eps, out, err := d.endpoints(t)
	if err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		// Its host-mode ports, if any, can be published now that its
		// namespace exists.
		if d.view != nil {
			return nil, d.applyMesh(ctx, d.view)
		}
		return nil, nil
	}
	for _, n := range nets {
		if err := overlay.Ensure(ctx, n); err != nil {
			return nil, err
		}
	}
	if err := overlay.Attach(ctx, nsPath, containerID, eps); err != nil {
		return nil, err
	}
	a := &attachment{taskID: t.ID, nsPath: nsPath, seq: d.seq}
	for _, ep := range eps {
		a.networks = append(a.networks, ep.NetworkID)
	}
	d.attached[containerID] = a
	if err := d.startResolver(ctx, containerID, a, t.Spec.ContainerSpec); err != nil {
		return nil, err
	}
	if d.view != nil {
		if err := d.balanceContainer(ctx, containerID, a, d.view); err != nil {
			return nil, err
		}
		if err := d.applyMesh(ctx, d.view); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Detach removes what Attach gave a container. Detaching a container that
// has nothing is not an error.
func (d *Dataplane) Detach(ctx context.Context, containerID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.detach(ctx, containerID)
}

func (d *Dataplane) detach(ctx context.Context, containerID string) error {
	a := d.attached[containerID]
	if a == nil {
		return nil
	}
	d.cfg.Resolver.Stop(containerID)
	if err := overlay.Detach(ctx, containerID, a.networks); err != nil {
		return err
	}
	if err := lb.RemoveVIPs(ctx, a.nsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Debug("remove VIP rules", "container.id", containerID, "err", err)
	}
	delete(d.attached, containerID)
	delete(d.bridgeAddrs, a.taskID)
	return nil
}

// Close stops the tunnel and every DNS server. Interfaces and rules stay:
// task containers outlive the daemon, and a restarted one adopts them.
func (d *Dataplane) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tunnel != nil {
		d.tunnel.Close()
		d.tunnel = nil
	}
	d.cfg.Resolver.Close()
}

// endpoints works out a task's interfaces from its attachments: the
// networks to ensure, the endpoints to attach and what to report.
func (d *Dataplane) endpoints(t *swarm.Task) ([]overlay.Network, []overlay.Endpoint, []executor.Endpoint, error) {
	var (
		nets []overlay.Network
		eps  []overlay.Endpoint
		out  []executor.Endpoint
	)
	for i, at := range t.NetworksAttachments {
		n, err := d.networkOf(&at.Network)
		if err != nil {
			return nil, nil, nil, err
		}
		if len(at.Addresses) == 0 {
			return nil, nil, nil, fmt.Errorf("task %s has no address on network %s", t.ID, at.Network.Spec.Name)
		}
		nets = append(nets, n)
		addr := at.Addresses[0]
		eps = append(eps, overlay.Endpoint{NetworkID: n.ID, Ifname: "eth" + strconv.Itoa(i+1), Addr: addr, MTU: n.MTU})
		out = append(out, executor.Endpoint{NetworkID: n.ID, NetworkName: at.Network.Spec.Name, Addr: addr, MAC: view.MAC(addr.Addr())})
	}
	return nets, eps, out, nil
}

// networkOf is how a network is carried on this node: from the view
// when it has the network (which knows the node's own address on it),
// else from the network object a task carries.
func (d *Dataplane) networkOf(sn *swarm.Network) (overlay.Network, error) {
	if d.view != nil {
		if vn := d.view.Network(sn.ID); vn != nil {
			return d.carry(*vn), nil
		}
	}
	stored := &store.Network{Network: *sn}
	a, ok := swarmnet.Allocated(stored)
	if !ok {
		return overlay.Network{}, fmt.Errorf("network %s has no subnet allocated", sn.Spec.Name)
	}
	return d.carry(view.Network{ID: sn.ID, VNI: a.VNI, Subnet: a.Subnet, Encrypted: swarmnet.Encrypted(stored)}), nil
}

// carry is the overlay configuration of a network in the view.
func (d *Dataplane) carry(n view.Network) overlay.Network {
	port := uint16(view.DefaultDataPathPort)
	if d.view != nil && d.view.DataPathPort != 0 {
		port = d.view.DataPathPort
	}
	out := overlay.Network{ID: n.ID, VNI: n.VNI, Port: port, MTU: d.cfg.MTU - overlay.VXLANOverhead, Addr: n.NodeAddr}
	if n.Encrypted {
		out.MTU = d.cfg.MTU - wireGuardOverhead - overlay.VXLANOverhead
		if d.view != nil && d.view.Tunnel != nil {
			out.Source = d.view.Tunnel.Addr
		}
	}
	return out
}

// startResolver starts the container's DNS server for the networks it
// is on (the ingress network names nothing).
func (d *Dataplane) startResolver(ctx context.Context, containerID string, a *attachment, cs *swarm.ContainerSpec) error {
	var dns *swarm.DNSConfig
	if cs != nil {
		dns = cs.DNSConfig
	}
	if err := d.cfg.Resolver.Start(ctx, containerID, a.nsPath, a.networks, resolver.WithDNSConfig(dns)); err != nil {
		return fmt.Errorf("DNS server of %s: %w", containerID, err)
	}
	if d.view != nil {
		d.cfg.Resolver.Update(d.view)
	}
	return nil
}

// reconcile converges the node to d.view. It goes on after a failure so
// that one bad network does not hold up the others, and returns every
// error.
func (d *Dataplane) reconcile(ctx context.Context) error {
	v := d.view
	if v == nil {
		return nil
	}
	var errs []error
	if err := d.reconcileTunnel(ctx, v); err != nil {
		errs = append(errs, err)
	}
	wanted := map[string]bool{}
	for _, n := range v.Networks {
		wanted[overlayShort(n.ID)] = true
		if err := overlay.Ensure(ctx, d.carry(n)); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := overlay.SetRemotes(ctx, n.ID, Remotes(v.NodeID, n)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, d.reconcileContainers(ctx, v)...)
	errs = append(errs, d.balance(ctx, v)...)
	// Networks the node no longer carries, once no container is on them.
	present, err := overlay.Present()
	if err != nil {
		errs = append(errs, err)
	}
	inUse := map[string]bool{}
	for _, a := range d.attached {
		for _, id := range a.networks {
			inUse[overlayShort(id)] = true
		}
	}
	for _, short := range present {
		if !wanted[short] && !inUse[short] {
			if err := overlay.Remove(ctx, short); err != nil {
				errs = append(errs, err)
			}
		}
	}
	d.cfg.Resolver.Update(v)
	return errors.Join(errs...)
}

// reconcileContainers adopts the local tasks' containers the view names
// that are not attached yet (a restarted daemon), and detaches those
// whose tasks ended.
func (d *Dataplane) reconcileContainers(ctx context.Context, v *view.Node) []error {
	var errs []error
	local := LocalTasks(v)
	for id, a := range d.attached {
		if _, ok := local[a.taskID]; !ok && a.seq < d.seq && !a.plain {
			if err := d.detach(ctx, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for taskID, eps := range local {
		cid := d.cfg.ContainerID(taskID)
		if _, ok := d.attached[cid]; ok {
			continue
		}
		nsPath := d.cfg.NetnsPath(cid)
		if _, err := os.Stat(nsPath); err != nil {
			continue // not prepared yet: the executor attaches it
		}
		t := &swarm.Task{ID: taskID}
		for _, ep := range eps {
			t.NetworksAttachments = append(t.NetworksAttachments, swarm.NetworkAttachment{
				Network:   swarm.Network{ID: ep.networkID},
				Addresses: []netip.Prefix{ep.addr},
			})
		}
		if _, err := d.attach(ctx, cid, nsPath, t); err != nil {
			errs = append(errs, fmt.Errorf("adopt %s: %w", cid, err))
		}
	}
	return errs
}

// localEndpoint is one of this node's task endpoints in the view.
type localEndpoint struct {
	networkID string
	addr      netip.Prefix
}

// LocalTasks returns this node's tasks in the view with their endpoints,
// in the view's network order, the ingress network first as tasks have
// their interfaces.
func LocalTasks(v *view.Node) map[string][]localEndpoint {
	out := map[string][]localEndpoint{}
	nets := slices.Clone(v.Networks)
	slices.SortStableFunc(nets, func(a, b view.Network) int {
		switch {
		case a.Ingress == b.Ingress:
			return 0
		case a.Ingress:
			return -1
		}
		return 1
	})
	for _, n := range nets {
		for _, ep := range n.Endpoints {
			if ep.NodeID == v.NodeID {
				out[ep.TaskID] = append(out[ep.TaskID], localEndpoint{networkID: n.ID, addr: ep.Addr})
			}
		}
	}
	return out
}

// Remotes returns the entries a network needs on node self: every
// endpoint on another node, and the other nodes' own addresses on the
// network, each sent to its node (to its tunnel address on an encrypted
// network). Peers with no known address are left out.
func Remotes(self string, n view.Network) []overlay.Remote {
	vtep := map[string]netip.Addr{}
	var out []overlay.Remote
	for _, p := range n.Peers {
		a := p.Addr
		if n.Encrypted {
			if p.Tunnel == nil {
				continue
			}
			a = p.Tunnel.Addr
		}
		if !a.IsValid() {
			continue
		}
		vtep[p.NodeID] = a
		if p.NodeAddr.IsValid() {
			out = append(out, overlay.Remote{Addr: p.NodeAddr, VTEP: a})
		}
	}
	for _, ep := range n.Endpoints {
		if ep.NodeID == self {
			continue
		}
		if a, ok := vtep[ep.NodeID]; ok {
			out = append(out, overlay.Remote{Addr: ep.Addr.Addr(), VTEP: a})
		}
	}
	return out
}

// reconcileTunnel runs the WireGuard tunnel while the node carries an
// encrypted network and has a tunnel address, with every peer of those
// networks, and guards their VXLAN IDs.
func (d *Dataplane) reconcileTunnel(ctx context.Context, v *view.Node) error {
	var vnis []uint32
	peers := map[string]encrypt.Peer{}
	port := encrypt.Port(v.DataPathPort)
	for _, n := range v.Networks {
		if !n.Encrypted {
			continue
		}
		vnis = append(vnis, n.VNI)
		for _, p := range n.Peers {
			if p.Tunnel != nil && p.Addr.IsValid() {
				peers[p.Tunnel.PublicKey] = encrypt.Peer{PublicKey: p.Tunnel.PublicKey, Endpoint: netip.AddrPortFrom(p.Addr, port), Addr: p.Tunnel.Addr}
			}
		}
	}
	if len(vnis) == 0 || v.Tunnel == nil {
		if d.tunnel != nil {
			d.tunnel.Close()
			d.tunnel = nil
		}
		return encrypt.RemoveGuard(ctx, "")
	}
	if d.tunnel == nil {
		t, err := encrypt.Start(ctx, encrypt.Config{
			PrivateKey: d.key,
			Addr:       netip.PrefixFrom(v.Tunnel.Addr, swarmnet.TunnelPool.Bits()),
			ListenPort: port,
			MTU:        d.cfg.MTU - wireGuardOverhead,
			Logger:     d.log,
		})
		if err != nil {
			return err
		}
		d.tunnel = t
	}
	list := make([]encrypt.Peer, 0, len(peers))
	for _, p := range peers {
		list = append(list, p)
	}
	if err := d.tunnel.SetPeers(list); err != nil {
		return err
	}
	return encrypt.Guard(ctx, "", v.DataPathPort, encrypt.DefaultName, vnis)
}

func overlayShort(id string) string {
	name := overlay.BridgeName(id)
	return name[len("shb-"):]
}
