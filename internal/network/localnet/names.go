package localnet

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/network/view"
)

// LinksNetworkID is the ID under which the resolver keeps the legacy
// links of one container: names only that container resolves.
func LinksNetworkID(containerID string) string { return "links/" + containerID }

// DNSNames are the names an endpoint is known by on its network, as
// dockerd lists them: the container's name, its aliases, its short ID.
func DNSNames(name string, ep *Endpoint) []string {
	out := []string{name}
	out = append(out, ep.Aliases...)
	if len(ep.ContainerID) >= 12 {
		out = append(out, ep.ContainerID[:12])
	}
	return out
}

// Names turns the networks into what the resolver answers from, the
// way it takes the swarm's: per network, each container that exists
// (names, by ID) under its name, short ID and aliases; and per container
// with links, a network of its own holding them. Containers whose names
// are unknown (being removed) are left out.
func Names(nets []*Network, names map[string]string) []view.Network {
	var out []view.Network
	links := map[string]*view.Network{}
	for _, n := range nets {
		vn := view.Network{ID: n.ID, Name: n.Name, Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal}
		addrOf := map[string]netip.Addr{}
		for id, ep := range n.Endpoints {
			if _, ok := names[id]; ok {
				addrOf[names[id]] = ep.Addr
			}
		}
		for id, ep := range n.Endpoints {
			name, ok := names[id]
			if !ok {
				continue
			}
			all := DNSNames(name, ep)
			vn.Endpoints = append(vn.Endpoints, view.Endpoint{
				TaskID: id, Name: all[0], Aliases: all[1:], Addr: netip.PrefixFrom(ep.Addr, n.Subnet.Bits()), Running: true,
			})
			for alias, target := range ep.Links {
				a, ok := addrOf[target]
				if !ok {
					continue
				}
				ln := links[id]
				if ln == nil {
					// Internal: its names give the container no way out
					// that its networks do not.
					ln = &view.Network{ID: LinksNetworkID(id), Name: LinksNetworkID(id), Internal: true}
					links[id] = ln
				}
				ln.Endpoints = append(ln.Endpoints, view.Endpoint{Name: alias, Addr: netip.PrefixFrom(a, n.Subnet.Bits()), Running: true})
			}
		}
		slices.SortFunc(vn.Endpoints, func(a, b view.Endpoint) int { return a.Addr.Addr().Compare(b.Addr.Addr()) })
		out = append(out, vn)
	}
	for _, ln := range links {
		slices.SortFunc(ln.Endpoints, func(a, b view.Endpoint) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, *ln)
	}
	slices.SortFunc(out, func(a, b view.Network) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Of returns the container's endpoints on nets in the order it got
// them (the first is its primary network), with their networks.
func Of(nets []*Network, containerID string) []Attached {
	var out []Attached
	for _, n := range nets {
		if ep, ok := n.Endpoints[containerID]; ok {
			out = append(out, Attached{Network: n, Endpoint: ep})
		}
	}
	slices.SortFunc(out, func(a, b Attached) int { return cmp.Compare(a.Endpoint.Seq, b.Endpoint.Seq) })
	return out
}

// Attached is one of a container's endpoints with its network.
type Attached struct {
	Network  *Network
	Endpoint *Endpoint
}

// ResolverNetworks are the IDs the container's DNS server answers from,
// in its endpoints' order, then its links.
func ResolverNetworks(att []Attached) []string {
	var out []string
	links := false
	for _, a := range att {
		out = append(out, a.Network.ID)
		links = links || len(a.Endpoint.Links) > 0
	}
	if links && len(att) > 0 {
		out = append([]string{LinksNetworkID(att[0].Endpoint.ContainerID)}, out...)
	}
	return out
}

// RouteCandidate is one of a container's interfaces that can hold its
// default route: one on a local network, or on the node bridge.
type RouteCandidate struct {
	// Network is the network's name, which orders the candidates.
	Network  string
	Internal bool
	// WayOut marks the node bridge when it is no network of the
	// container's but the way out of one on an overlay (dockerd's
	// docker_gwbridge endpoint).
	WayOut  bool
	Ifname  string
	Gateway netip.Addr
	// Addr is the container's address there.
	Addr netip.Addr
}

// DefaultRoute picks the interface that holds a container's default
// route as dockerd 20.10 does (libnetwork's sandbox keeps its endpoints
// ordered and the first with a gateway holds the route): a network that
// is not internal first, then an internal one, the way out last; among
// equals the network whose name sorts first — not the one joined first.
// So connecting a network whose name sorts before the current one moves
// the route to it, and disconnecting the network that held it moves it
// to the next. ok is false when there is none: the container has no
// default route.
func DefaultRoute(cands []RouteCandidate) (RouteCandidate, bool) {
	rank := func(c RouteCandidate) int {
		switch {
		case c.WayOut:
			return 2
		case c.Internal:
			return 1
		}
		return 0
	}
	best, ok := RouteCandidate{}, false
	for _, c := range cands {
		if !ok || rank(c) < rank(best) || rank(c) == rank(best) && c.Network < best.Network {
			best, ok = c, true
		}
	}
	return best, ok
}

// NeedsWayOut reports whether a container needs an interface on the node
// bridge as its way out, as dockerd 20.10 gives one on docker_gwbridge
// (libnetwork's needDefaultGW): it is on a swarm overlay that is not
// internal (overlays holds each one's Internal), and on no network that
// gives it a gateway — neither the default bridge (onBridge) nor a local
// network that is not internal. dockerd drops the way out when such a
// network is connected and adds one, under a new name, when the last
// goes.
func NeedsWayOut(overlays []bool, locals []RouteCandidate, onBridge bool) bool {
	if onBridge {
		return false
	}
	for _, c := range locals {
		if !c.Internal {
			return false
		}
	}
	for _, internal := range overlays {
		if !internal {
			return true
		}
	}
	return false
}

// RouteCandidates are the container's endpoints on local networks as
// candidates for its default route: each network's gateway is on its
// bridge, internal or not.
func RouteCandidates(att []Attached) []RouteCandidate {
	out := make([]RouteCandidate, len(att))
	for i, a := range att {
		out[i] = RouteCandidate{Network: a.Network.Name, Internal: a.Network.Internal, Ifname: a.Endpoint.Ifname, Gateway: a.Network.Gateway, Addr: a.Endpoint.Addr}
	}
	return out
}

// Settings are the container's endpoints as its inspect shows them,
// by network name.
func Settings(att []Attached) map[string]*network.EndpointSettings {
	out := make(map[string]*network.EndpointSettings, len(att))
	for _, a := range att {
		out[a.Network.Name] = a.Network.EndpointSettings(a.Endpoint)
	}
	return out
}
