package dataplane

import (
	"net/netip"
	"slices"

	"github.com/shoal-project/shoal/internal/network/view"
)

// Subnets are the subnets of the swarm networks in the node's view, which
// the node's local networks must not overlap.
func (d *Dataplane) Subnets() []netip.Prefix {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.view == nil {
		return nil
	}
	out := make([]netip.Prefix, 0, len(d.view.Networks))
	for _, n := range d.view.Networks {
		if n.Subnet.IsValid() {
			out = append(out, n.Subnet)
		}
	}
	return out
}

// Networks are the swarm networks in the node's view: those its tasks
// are on, and the ingress network.
func (d *Dataplane) Networks() []view.Network {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.view == nil {
		return nil
	}
	return slices.Clone(d.view.Networks)
}
