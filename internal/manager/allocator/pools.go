package allocator

import (
	"net/netip"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/ipam"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// State is what allocation decides from: the store's networks, services,
// tasks and nodes, as one consistent read.
type State struct {
	Networks []*store.Network
	Services []*store.Service
	Tasks    []*store.Task
	Nodes    []*store.Node
}

// ReadState reads the state from a transaction.
func ReadState(tx store.ReadTx) State {
	return State{
		Networks: store.All[*store.Network](tx),
		Services: store.All[*store.Service](tx),
		Tasks:    store.All[*store.Task](tx),
		Nodes:    store.All[*store.Node](tx),
	}
}

// Pools are the free addresses of every allocated network, and of the
// tunnel, given a State: everything an object holds is marked used.
type Pools struct {
	nets   map[string]*netPool
	tunnel *ipam.Pool
}

type netPool struct {
	n    *store.Network
	pool *ipam.Pool
}

// NewPools marks what s holds: each network's gateway, the services'
// VIPs, the addresses of tasks that have not ended, the nodes' own
// attachments and tunnel addresses.
func NewPools(s State) *Pools {
	p := &Pools{nets: map[string]*netPool{}, tunnel: ipam.NewPool(swarmnet.TunnelPool, netip.Prefix{})}
	for _, n := range s.Networks {
		a, ok := swarmnet.Allocated(n)
		if !ok {
			continue
		}
		np := &netPool{n: n, pool: ipam.NewPool(a.Subnet, a.Range)}
		np.pool.Use(a.Gateway)
		p.nets[n.ID] = np
	}
	for _, svc := range s.Services {
		for _, vip := range svc.Endpoint.VirtualIPs {
			p.use(vip.NetworkID, vip.Addr.Addr())
		}
	}
	for _, t := range s.Tasks {
		if !Holds(t) {
			continue
		}
		p.useAttachments(t.NetworksAttachments)
	}
	for _, n := range s.Nodes {
		p.useAttachments(n.NetworkAttachments)
		if n.Tunnel != nil {
			p.tunnel.Use(n.Tunnel.Addr)
		}
	}
	return p
}

// Holds reports whether a task holds its addresses: until it ends. Its
// node takes its interfaces down when it ends, before the addresses can
// be given again.
func Holds(t *store.Task) bool {
	return !taskstate.Terminal(t.Status.State)
}

func (p *Pools) useAttachments(as []swarm.NetworkAttachment) {
	for _, a := range as {
		for _, addr := range a.Addresses {
			p.use(a.Network.ID, addr.Addr())
		}
	}
}

func (p *Pools) use(networkID string, a netip.Addr) {
	if np := p.nets[networkID]; np != nil {
		np.pool.Use(a)
	}
}

// owns reports whether a is in use on the network, in its subnet: an
// address kept from before must still be one of the network's.
func (p *Pools) owns(networkID string, a netip.Addr) bool {
	np := p.nets[networkID]
	return np != nil && np.pool.Subnet().Contains(a) && np.pool.Used(a)
}

// Take gives an address on the network, with its prefix length.
func (p *Pools) Take(n *store.Network) (netip.Prefix, error) {
	np := p.nets[n.ID]
	if np == nil {
		return netip.Prefix{}, errdefs.Unavailable("network %s (%s) has no subnet allocated yet", n.Spec.Name, n.ID)
	}
	a, err := np.pool.Take()
	if err != nil {
		return netip.Prefix{}, errdefs.Unavailable("could not allocate an IP address on network %s (%s): no available IPv4 addresses left in %s", n.Spec.Name, n.ID, np.pool.Subnet())
	}
	return np.pool.Prefix(a), nil
}

// Allocated reports whether the network has a subnet to give addresses
// from.
func (p *Pools) Allocated(networkID string) bool { return p.nets[networkID] != nil }

// TakeAddr gives address a on the network (docker network connect --ip),
// with its prefix length: it must be one of the network's host addresses
// and free.
func (p *Pools) TakeAddr(n *store.Network, a netip.Addr) (netip.Prefix, error) {
	np := p.nets[n.ID]
	if np == nil {
		return netip.Prefix{}, errdefs.Unavailable("network %s (%s) has no subnet allocated yet", n.Spec.Name, n.ID)
	}
	sub := np.pool.Subnet()
	if !a.Is4() || !sub.Contains(a) || a == sub.Masked().Addr() || !sub.Contains(a.Next()) {
		return netip.Prefix{}, errdefs.Invalid("IPAMConfig.IPv4Address: %s is not a host address of network %s (%s)", a, n.Spec.Name, sub)
	}
	if np.pool.Used(a) {
		return netip.Prefix{}, errdefs.Invalid("IPAMConfig.IPv4Address: address %s is already in use on network %s", a, n.Spec.Name)
	}
	np.pool.Use(a)
	return np.pool.Prefix(a), nil
}
