package engine

import (
	"context"
	"maps"
	"slices"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

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
// node's nameservers, as in dockerd; so does one on no network.
func resolverNets(mode containertypes.NetworkMode, local, swarm []string) ([]string, bool) {
	nets := append(slices.Clone(local), swarm...)
	return nets, mode.IsUserDefined() && len(nets) > 0
}

// localResolverNets are the local networks container id's DNS server
// answers from.
func (c *Containers) localResolverNets(id string) []string {
	return localnet.ResolverNetworks(localnet.Of(c.nets.store.All(), id))
}

// settings are container id's endpoints, local and swarm, as inspect
// shows them.
func (c *Containers) settings(id string) map[string]*network.EndpointSettings {
	out := c.nets.settings(id)
	if sw := c.swarm.settings(id); len(sw) > 0 {
		if out == nil {
			out = map[string]*network.EndpointSettings{}
		}
		maps.Copy(out, sw)
	}
	return out
}

// usedIfnames are the interfaces container id has: eth0 on the node
// bridge (the default bridge, or a swarm overlay's way out), its local
// networks'. Its swarm networks' the caller adds.
func (c *Containers) usedIfnames(id string) []string {
	var used []string
	if _, ok := c.exec.BridgeAddr(id); ok {
		used = append(used, "eth0")
	}
	for _, a := range localnet.Of(c.nets.store.All(), id) {
		used = append(used, a.Endpoint.Ifname)
	}
	return used
}

// connectSwarm puts a plain container on an attachable overlay network
// (docker network connect), running or not.
func (c *Containers) connectSwarm(ctx context.Context, netRef, id, name string, host *containertypes.HostConfig, s *network.EndpointSettings) error {
	switch mode := host.NetworkMode; {
	case mode.IsHost():
		return errdefs.Forbidden("container cannot be disconnected from host network or connected to host network")
	case mode.IsNone():
		return errdefs.Forbidden("container %s is in network mode none: it cannot be connected to other networks", name)
	case mode.IsContainer():
		return errdefs.Forbidden("container %s shares the network namespace of another container: connect that one", name)
	}
	return c.swarm.connect(ctx, id, name, netRef, s, c.usedIfnames(id), host, c.localResolverNets(id))
}
