package engine

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/network/etchosts"
	"github.com/shoal-project/shoal/internal/network/localnet"
)

// This file keeps what a plain container sees of its networks beyond its
// interfaces in step with docker network connect and disconnect, as
// dockerd 20.10 does: the lines of its /etc/hosts naming itself
// (etchosts), the resolv.conf of one run with --network none, and the
// address its published ports go to.

// addrsOf are container id's addresses, one per network, in the order
// its /etc/hosts lists them when it starts: the default bridge, its
// local networks as it joined them, then its swarm networks by name.
func (c *Containers) addrsOf(id string) []netip.Addr {
	var out []netip.Addr
	if ep, onDefault, ok := c.exec.NodeEndpoint(id); ok && onDefault {
		out = append(out, ep.Addr.Addr())
	}
	for _, a := range localnet.Of(c.nets.store.All(), id) {
		out = append(out, a.Endpoint.Addr)
	}
	sw := c.swarm.settings(id)
	for _, name := range slices.Sorted(maps.Keys(sw)) {
		if a := sw[name].IPAddress; a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// rebuildHosts writes container id's /etc/hosts anew before it starts,
// as dockerd does: a line for each network it is on now.
func (c *Containers) rebuildHosts(id string) error {
	return c.exec.RebuildHosts(id, c.addrsOf(id))
}

// joined adds the line of container id's address on the network it was
// just connected to (its endpoints before were before; bridge tells it
// was the default bridge), and points a container run with --network
// none at its DNS server once it is on a user-defined network. The
// caller holds its lock.
func (c *Containers) joined(id string, host *containertypes.HostConfig, before map[string]*network.EndpointSettings, bridge bool) error {
	var addr netip.Addr
	if bridge {
		if ep, onDefault, ok := c.exec.NodeEndpoint(id); ok && onDefault {
			addr = ep.Addr.Addr()
		}
	} else {
		for name, ep := range c.settings(id) {
			if _, ok := before[name]; !ok && ep != nil {
				addr = ep.IPAddress
			}
		}
		if host.NetworkMode.IsNone() {
			if err := c.exec.UseEmbeddedDNS(id); err != nil {
				return err
			}
		}
	}
	return c.exec.EditHosts(id, func(file []byte, hostname, domainname string) []byte {
		return etchosts.Add(file, addr, hostname, domainname)
	})
}

// leaving are the names whose lines of /etc/hosts container id (named
// name) loses when it leaves network ref, as dockerd's: the names the
// network's DNS knows but the container's own (etchosts.LeaveNames). The
// default bridge has none; a local network, those of every container on
// it; a swarm network, the container's own aliases and short ID, the
// only names of it this node knows.
func (c *Containers) leaving(id, name, ref string) []string {
	if ref == network.NetworkBridge {
		return nil
	}
	if names, ok := c.nets.dnsNames(ref); ok {
		return etchosts.LeaveNames(names, name)
	}
	var names []string
	for netName, ep := range c.swarm.settings(id) {
		if netName == ref || ep.NetworkID == ref || len(ref) >= 12 && strings.HasPrefix(ep.NetworkID, ref) {
			names = append(append(names, ep.Aliases...), id[:12])
		}
	}
	return etchosts.LeaveNames(names, name)
}

// left takes out of container id's /etc/hosts the lines of names
// (leaving), after it left a network.
func (c *Containers) left(id string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return c.exec.EditHosts(id, func(file []byte, _, _ string) []byte {
		return etchosts.Delete(file, names)
	})
}

// republish points the ports of running container id at its address on
// the network that holds its default route, after a connect or
// disconnect moved it: dockerd's ports go where its external
// connectivity is (libnetwork's gateway endpoint). The caller holds its
// lock.
func (c *Containers) republish(ctx context.Context, id string) error {
	ctr, ok := c.store.Get(id)
	if !ok || len(ctr.Ports) == 0 {
		return nil
	}
	return c.publish(ctx, id, ctr.Ports)
}

// gatewayAddr is container id's address on the interface that holds its
// default route (localnet.DefaultRoute): where its published ports go.
func (c *Containers) gatewayAddr(id string) (netip.Addr, bool) {
	cands := localnet.RouteCandidates(localnet.Of(c.nets.store.All(), id))
	if ep, onDefault, ok := c.exec.NodeEndpoint(id); ok {
		cands = append(cands, localnet.RouteCandidate{
			Network: network.NetworkBridge, WayOut: !onDefault, Ifname: ep.Ifname, Addr: ep.Addr.Addr(),
		})
	}
	gw, ok := localnet.DefaultRoute(cands)
	return gw.Addr, ok
}
