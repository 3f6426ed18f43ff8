package engine

import (
	"context"
	"maps"
	"slices"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/container"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/localnet"
)

// SetSwarm links the engine to the swarm the node is in, whose
// attachable overlay networks plain containers may then join; nil when
// the node is in none.
func (e *Engine) SetSwarm(sw Swarm) { e.Containers.swarm.setSwarm(sw) }

// PruneAttachments has the managers remove the attachments this node
// was given for containers it no longer has; the node calls it once its
// agent has a session, after the daemon starts.
func (e *Engine) PruneAttachments(ctx context.Context) error {
	return e.Containers.swarm.prune(ctx)
}

// resolverNets decides a plain container's DNS server from its network
// mode and the networks it is on, local (links' first, as
// localnet.ResolverNetworks gives them) and swarm: the networks whose
// names it answers, every one it is on whichever was connected last, and
// whether it has a server at all. One on the default bridge keeps the
// node's nameservers, as in dockerd; so does one on no network. One run
// with --network none gets a server once it left none for a user
// network, as dockerd starts one then.
func resolverNets(mode containertypes.NetworkMode, local, swarm []string) ([]string, bool) {
	nets := append(slices.Clone(local), swarm...)
	return nets, (mode.IsUserDefined() || mode.IsNone()) && len(nets) > 0
}

// localResolverNets are the local networks container id's DNS server
// answers from.
func (c *Containers) localResolverNets(id string) []string {
	return localnet.ResolverNetworks(localnet.Of(c.nets.store.All(), id))
}

// settings are container id's endpoints, local and swarm, and its place
// on network none, as inspect shows them.
func (c *Containers) settings(id string) map[string]*network.EndpointSettings {
	out := c.nets.settings(id)
	if out == nil {
		out = map[string]*network.EndpointSettings{}
	}
	maps.Copy(out, c.swarm.settings(id))
	if ctr, ok := c.store.Get(id); ok && onNone(ctr.HostConfig.NetworkMode, ctr.OnNone) {
		out[network.NetworkNone] = &network.EndpointSettings{NetworkID: c.noneID}
	}
	return out
}

// usedIfnames are the interfaces container id has: on the node bridge
// (the default bridge, or a swarm overlay's way out), on its local
// networks and on its swarm networks.
func (c *Containers) usedIfnames(id string) []string {
	var used []string
	if ep, _, ok := c.exec.NodeEndpoint(id); ok {
		used = append(used, ep.Ifname)
	}
	for _, a := range localnet.Of(c.nets.store.All(), id) {
		used = append(used, a.Endpoint.Ifname)
	}
	return append(used, c.swarm.ifnames(id)...)
}

// nextIfname takes the name of container id's next interface as dockerd
// gives it (localnet.NextIfname) and keeps the count in its record, so
// that a name is never given twice, across restarts of the daemon too.
// The caller holds the container's lock.
func (c *Containers) nextIfname(id string) (string, error) {
	used := c.usedIfnames(id)
	var name string
	_, err := c.store.Update(id, func(ctr *container.Container) error {
		name, ctr.NextIfindex = localnet.NextIfname(ctr.NextIfindex, used)
		return nil
	})
	return name, err
}

// keepIfnames records, before one of container id's interfaces goes,
// that its names are taken for good (localnet.IfindexFloor). The caller
// holds the container's lock.
func (c *Containers) keepIfnames(id string) error {
	used := c.usedIfnames(id)
	_, err := c.store.Update(id, func(ctr *container.Container) error {
		ctr.NextIfindex = localnet.IfindexFloor(ctr.NextIfindex, used)
		return nil
	})
	return err
}

// connectSwarm puts a plain container on an attachable overlay network
// (docker network connect), running or not; checkConnect has passed.
func (c *Containers) connectSwarm(ctx context.Context, netRef, id, name string, host *containertypes.HostConfig, s *network.EndpointSettings) error {
	ifname, err := c.nextIfname(id)
	if err != nil {
		return err
	}
	return c.swarm.connect(ctx, id, name, netRef, s, ifname, host, c.localResolverNets(id))
}

// connectBridge puts a plain container on the default bridge (docker
// network connect bridge) and routes it as dockerd would with that
// interface; checkConnect has passed.
func (c *Containers) connectBridge(ctx context.Context, id string, host *containertypes.HostConfig) error {
	if _, onDefault, ok := c.exec.NodeEndpoint(id); ok && onDefault {
		// Refused before a name is taken, as dockerd does.
		return errdefs.Forbidden("endpoint with name %s already exists in network bridge", c.nameOf(id))
	}
	ifname, err := c.nextIfname(id)
	if err != nil {
		return err
	}
	if err := c.exec.ConnectBridge(ctx, id, ifname); err != nil {
		return err
	}
	if err := c.fitWayOut(ctx, id, host); err != nil {
		if derr := c.exec.DisconnectBridge(context.WithoutCancel(ctx), id); derr != nil {
			c.log.Warn("undo a connect to the bridge", "container.id", id, "err", derr)
		}
		return err
	}
	return nil
}

// fitWayOut gives container id a way out on the node bridge, or takes
// it away, as dockerd 20.10 adds and drops its docker_gwbridge interface
// (localnet.NeedsWayOut) after a connect or disconnect, and routes it
// again. A new way out gets a new name. The caller holds the container's
// lock.
func (c *Containers) fitWayOut(ctx context.Context, id string, host *containertypes.HostConfig) error {
	if host.NetworkMode.IsHost() || host.NetworkMode.IsContainer() {
		return nil
	}
	_, onDefault, has := c.exec.NodeEndpoint(id)
	need := localnet.NeedsWayOut(c.swarm.overlays(id), localnet.RouteCandidates(localnet.Of(c.nets.store.All(), id)), has && onDefault)
	if need == has || has && onDefault {
		return c.nets.reroute(ctx, id, host)
	}
	ifname := ""
	if need {
		var err error
		if ifname, err = c.nextIfname(id); err != nil {
			return err
		}
	} else if err := c.keepIfnames(id); err != nil {
		return err
	}
	if err := c.exec.SetWayOut(ctx, id, need, ifname); err != nil {
		return err
	}
	return c.nets.reroute(ctx, id, host)
}

// nameOf is plain container id's name.
func (c *Containers) nameOf(id string) string {
	if ctr, ok := c.store.Get(id); ok {
		return ctr.Name
	}
	return id
}

// predefinedNetwork reports whether ref is the name of a network every
// node has (the API resolves their IDs to these names).
func predefinedNetwork(ref string) bool {
	return ref == network.NetworkBridge || ref == network.NetworkHost || ref == network.NetworkNone
}

// onNone reports whether a container in network mode mode is on network
// none: as its mode says until docker network connect or disconnect of
// none set it (set, container.Container.OnNone).
func onNone(mode containertypes.NetworkMode, set *bool) bool {
	if set != nil {
		return *set
	}
	return mode.IsNone()
}

// checkConnect refuses, with dockerd 20.10's words, to connect a
// container named name in network mode mode to network ref with
// settings s; none
// tells whether it is on network none (onNone), networks how many other
// networks it is on. As dockerd's (updateNetworkSettings), none goes
// with no other network either way: a container run with --network none
// is connected to another once disconnected from none, and one left on
// no network may join none.
func checkConnect(mode containertypes.NetworkMode, ref, name string, s *network.EndpointSettings, none bool, networks int) error {
	switch {
	case ref == network.NetworkHost:
		return errdefs.Invalid("container cannot be disconnected from host network or connected to host network")
	case mode.IsHost() || mode.IsContainer():
		return errdefs.Invalid("container sharing network namespace with another container or host cannot be connected to any other network")
	case ref == network.NetworkNone && none:
		return errdefs.Forbidden("endpoint with name %s already exists in network none", name)
	case none || ref == network.NetworkNone && networks > 0:
		return errdefs.Invalid("container cannot be connected to multiple networks with one of the networks in private (none) mode")
	}
	if ref == network.NetworkBridge && s != nil {
		if s.IPAMConfig != nil && (s.IPAMConfig.IPv4Address.IsValid() || s.IPAMConfig.IPv6Address.IsValid()) {
			return errdefs.Invalid("user specified IP address is supported on user defined networks only")
		}
		if len(s.Aliases) > 0 {
			return errdefs.Invalid("network-scoped alias is supported only for containers in user defined networks")
		}
	}
	return nil
}

// checkDisconnect refuses, with dockerd 20.10's words, to disconnect
// container id in network mode mode from network ref; none tells whether
// it is on network none (onNone), which it may leave.
func checkDisconnect(mode containertypes.NetworkMode, ref, id string, none bool) error {
	switch {
	case mode.IsHost() && ref == network.NetworkHost:
		return errdefs.Invalid("container cannot be disconnected from host network or connected to host network")
	case mode.IsContainer(), ref == network.NetworkHost, ref == network.NetworkNone && !none:
		return errdefs.Forbidden("container %s is not connected to network %s", id, ref)
	}
	return nil
}
