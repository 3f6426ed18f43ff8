package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/network/lb"
	"github.com/shoal-project/shoal/internal/network/overlay"
)

// PlainEndpoint is a plain container's interface on an attachable overlay
// network, from its network attachment task.
type PlainEndpoint struct {
	TaskID  string
	Network swarm.Network
	Addr    netip.Prefix
	Ifname  string
}

// PlugContainer converges plain container containerID, whose namespace is
// at nsPath, to interfaces on exactly eps: what exists and matches is
// kept, interfaces on networks no longer listed go, and its VIP rules
// follow. The engine, which owns the container, runs its DNS server and
// says when it leaves a network: views never detach it.
func (d *Dataplane) PlugContainer(ctx context.Context, containerID, nsPath string, eps []PlainEndpoint) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.attached[containerID]
	var (
		nets []overlay.Network
		oeps []overlay.Endpoint
		ids  []string
	)
	for _, ep := range eps {
		n, err := d.networkOf(&ep.Network)
		if err != nil {
			return err
		}
		nets = append(nets, n)
		oeps = append(oeps, overlay.Endpoint{NetworkID: n.ID, Ifname: ep.Ifname, Addr: ep.Addr, MTU: n.MTU})
		ids = append(ids, n.ID)
	}
	if old != nil {
		var gone []string
		for _, id := range old.networks {
			if !slices.Contains(ids, id) {
				gone = append(gone, id)
			}
		}
		if err := overlay.Detach(ctx, containerID, gone); err != nil {
			return err
		}
	}
	if len(eps) == 0 {
		if old != nil {
			if err := lb.RemoveVIPs(ctx, old.nsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
				d.log.Debug("remove VIP rules", "container.id", containerID, "err", err)
			}
		}
		delete(d.attached, containerID)
		return nil
	}
	for _, n := range nets {
		if err := overlay.Ensure(ctx, n); err != nil {
			return err
		}
	}
	if err := overlay.Attach(ctx, nsPath, containerID, oeps); err != nil {
		return err
	}
	a := &attachment{plain: true, nsPath: nsPath, networks: ids, seq: d.seq}
	d.attached[containerID] = a
	if d.view != nil {
		return d.balanceContainer(ctx, containerID, a, d.view)
	}
	return nil
}
