package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/vishvananda/netlink"

	"github.com/shoal-project/shoal/internal/container"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/network/bridge"
	"github.com/shoal-project/shoal/internal/network/dataplane"
	"github.com/shoal-project/shoal/internal/network/localnet"
	"github.com/shoal-project/shoal/internal/network/resolver"
)

// localNets runs the node's user-defined bridge networks: their store
// (decided by internal/network/localnet), their bridges and rules
// (internal/network/bridge), the containers' interfaces on them and the
// names the containers' DNS servers answer (internal/network/resolver,
// the one that serves tasks).
type localNets struct {
	store    *localnet.Store
	node     *bridge.Bridge
	resolver *resolver.Manager
	// names gives the plain containers' names by ID.
	names func() map[string]string
	// swarmSubnets are the subnets of the swarm networks the node
	// carries, which a local network must not overlap.
	swarmSubnets func() []netip.Prefix
	// swarmNets gives the swarm networks a container holds attachments
	// on, whose names its DNS server answers too; nil until the swarm
	// side is open (its restore then starts those servers again).
	swarmNets func(id string) []string
	// onNode returns a container's interface on the node bridge, and
	// whether it is its place on the default bridge rather than only its
	// way out of an overlay; ok is false when it has none.
	onNode func(id string) (ep executor.Endpoint, onDefault, ok bool)
	log    *slog.Logger

	// mu serializes every change to the networks and their endpoints.
	mu sync.Mutex
}

// local is how the bridge package carries network n.
func local(n *localnet.Network) bridge.Local {
	l := bridge.Local{Name: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal, Masquerade: n.Masquerade()}
	if v, ok := n.Options[localnet.OptMTU]; ok {
		l.MTU, _ = strconv.Atoi(v)
	}
	return l
}

// applyRules puts every network's rules in the shoal table. The caller
// holds mu.
func (ln *localNets) applyRules(ctx context.Context) error {
	nets := ln.store.All()
	locals := make([]bridge.Local, len(nets))
	for i, n := range nets {
		locals[i] = local(n)
	}
	return ln.node.SetLocals(ctx, locals)
}

// refreshDNS gives the resolver the names of every network. The caller
// holds mu.
func (ln *localNets) refreshDNS() {
	ln.resolver.SetLocal(localnet.Names(ln.store.All(), ln.names()))
}

// find resolves a reference to a local network; a 404 when none.
func (ln *localNets) find(ref string) (*localnet.Network, error) {
	n, ok, err := ln.store.Find(ref)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errdefs.NotFound("network %s not found", ref)
	}
	return n, nil
}

// has reports whether ref names a local network.
func (ln *localNets) has(ref string) bool {
	_, ok, _ := ln.store.Find(ref)
	return ok
}

// taken is what a new network must not collide with.
func (ln *localNets) taken(names []string) (localnet.Taken, error) {
	t := localnet.Taken{Names: slices.Clone(names), Subnets: []netip.Prefix{ln.node.Subnet()}}
	t.Subnets = append(t.Subnets, ln.swarmSubnets()...)
	for _, n := range ln.store.All() {
		t.Names = append(t.Names, n.Name)
		t.Subnets = append(t.Subnets, n.Subnet)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return t, fmt.Errorf("list the node's routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst.IP, r.Dst.Mask); ok && p.Bits() > 0 {
			t.Subnets = append(t.Subnets, p)
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return t, fmt.Errorf("list the node's interfaces: %w", err)
	}
	for _, l := range links {
		t.Bridges = append(t.Bridges, l.Attrs().Name)
	}
	return t, nil
}

func prefixOf(ip []byte, mask []byte) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones := 0
	for _, b := range mask {
		for ; b&0x80 != 0; b <<= 1 {
			ones++
		}
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}

// create makes a network from a create request: checked and decided
// first, then its bridge and rules; on any failure nothing is left.
// names are the other networks' names the node shows (the swarm's).
func (ln *localNets) create(ctx context.Context, req network.CreateRequest, names []string) (string, error) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	taken, err := ln.taken(names)
	if err != nil {
		return "", err
	}
	n, err := localnet.Plan(req, identity.NewContainerID(), localnet.DefaultPools, taken)
	if err != nil {
		return "", err
	}
	n.Created = time.Now().UTC()
	if err := bridge.EnsureLocal(ctx, local(n)); err != nil {
		ln.undoCreate(n)
		return "", err
	}
	if err := ln.store.Put(n); err != nil {
		ln.undoCreate(n)
		return "", err
	}
	if err := ln.applyRules(ctx); err != nil {
		ln.undoCreate(n)
		return "", err
	}
	ln.log.Info("network created", "network.id", n.ID, "network.name", n.Name, "subnet", n.Subnet, "bridge", n.Bridge)
	return n.ID, nil
}

// undoCreate takes back a network being made. The caller holds mu.
func (ln *localNets) undoCreate(n *localnet.Network) {
	ctx := context.Background()
	if err := ln.store.Delete(n.ID); err != nil {
		ln.log.Warn("forget a network that could not be made", "network.id", n.ID, "err", err)
	}
	if err := bridge.RemoveLocal(ctx, n.Bridge); err != nil {
		ln.log.Warn("remove the bridge of a network that could not be made", "network.id", n.ID, "err", err)
	}
	if err := ln.applyRules(ctx); err != nil {
		ln.log.Warn("rules after a network that could not be made", "network.id", n.ID, "err", err)
	}
}

// remove deletes a network no container is on.
func (ln *localNets) remove(ctx context.Context, ref string) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	n, err := ln.find(ref)
	if err != nil {
		return err
	}
	return ln.removeLocked(ctx, n)
}

func (ln *localNets) removeLocked(ctx context.Context, n *localnet.Network) error {
	if len(n.Endpoints) > 0 {
		names := ln.names()
		var on []string
		for id := range n.Endpoints {
			on = append(on, cmpOr(names[id], id))
		}
		slices.Sort(on)
		return errdefs.Forbidden("error while removing network: network %s id %s has active endpoints (%v)", n.Name, n.ID, on)
	}
	if err := ln.store.Delete(n.ID); err != nil {
		return err
	}
	if err := ln.applyRules(ctx); err != nil {
		return err
	}
	if err := bridge.RemoveLocal(ctx, n.Bridge); err != nil {
		return err
	}
	ln.refreshDNS()
	ln.log.Info("network removed", "network.id", n.ID, "network.name", n.Name)
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// prune removes the networks no container is on, as docker network
// prune: filters until, label and label!.
func (ln *localNets) prune(ctx context.Context, args filters.Args) ([]string, error) {
	if err := args.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	var until time.Time
	for _, v := range args.Get("until") {
		t, err := parseUntil(v, time.Now())
		if err != nil {
			return nil, err
		}
		until = t
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	var removed []string
	for _, n := range ln.store.All() {
		if len(n.Endpoints) > 0 || !until.IsZero() && !n.Created.Before(until) {
			continue
		}
		if !args.Labels("label", n.Labels) || len(args.Get("label!")) > 0 && args.Labels("label!", n.Labels) {
			continue
		}
		if err := ln.removeLocked(ctx, n); err != nil {
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	return removed, nil
}

// inspect is every local network as GET /networks shows it.
func (ln *localNets) inspect() []network.Inspect {
	var out []network.Inspect
	for _, n := range ln.store.All() {
		out = append(out, n.Inspect(nil))
	}
	return out
}

// request is one network a container asks to be on.
type request struct {
	network  *localnet.Network
	settings *network.EndpointSettings // may be nil
}

// wanted are the local networks a create request puts the container on:
// the one its mode names first (with the legacy links of host), then
// those of its endpoints config. A network mode that names no local
// network gives none.
func (ln *localNets) wanted(host *containertypes.HostConfig, cfg *network.NetworkingConfig) ([]request, error) {
	mode := host.NetworkMode
	if !mode.IsUserDefined() {
		if cfg != nil {
			for name := range cfg.EndpointsConfig {
				if name != string(mode) && !(mode.IsBridge() && name == "default") {
					return nil, errdefs.Invalid("NetworkingConfig: a container in network mode %s cannot also be on network %s", mode, name)
				}
			}
		}
		return nil, nil
	}
	primary, err := ln.find(string(mode))
	if err != nil {
		return nil, err
	}
	var eps map[string]*network.EndpointSettings
	if cfg != nil {
		eps = cfg.EndpointsConfig
	}
	first := settingsFor(eps, primary)
	if len(host.Links) > 0 {
		s := &network.EndpointSettings{}
		if first != nil {
			s = first.Copy()
		}
		s.Links = append(s.Links, host.Links...)
		first = s
	}
	out := []request{{network: primary, settings: first}}
	for _, ref := range slices.Sorted(maps.Keys(eps)) {
		n, err := ln.find(ref)
		if err != nil {
			return nil, errdefs.NotFound("NetworkingConfig.EndpointsConfig: network %s not found", ref)
		}
		if !slices.ContainsFunc(out, func(r request) bool { return r.network.ID == n.ID }) {
			out = append(out, request{network: n, settings: eps[ref]})
		}
	}
	return out, nil
}

// settingsFor finds the endpoint settings given for network n, by its
// name, ID or an ID prefix.
func settingsFor(eps map[string]*network.EndpointSettings, n *localnet.Network) *network.EndpointSettings {
	if s, ok := eps[n.Name]; ok {
		return s
	}
	for ref, s := range eps {
		if ref != "" && len(ref) <= len(n.ID) && n.ID[:len(ref)] == ref {
			return s
		}
	}
	return nil
}

// endpoint decides container id's endpoint on n from its settings:
// address (static or the next free one) and aliases.
func endpoint(n *localnet.Network, id string, s *network.EndpointSettings, seq uint64, ifname string) (*localnet.Endpoint, error) {
	ep := &localnet.Endpoint{ContainerID: id, Seq: seq, Ifname: ifname}
	var want netip.Addr
	if s != nil {
		if s.IPAMConfig != nil {
			if s.IPAMConfig.IPv6Address.IsValid() {
				return nil, errdefs.Invalid("IPAMConfig.IPv6Address: IPv6 is not supported on this node")
			}
			want = s.IPAMConfig.IPv4Address
		}
		if err := localnet.CheckAliases(s.Aliases); err != nil {
			return nil, err
		}
		ep.Aliases = slices.Clone(s.Aliases)
		for _, l := range s.Links {
			target, alias, ok := strings.Cut(l, ":")
			if !ok {
				alias = target
			}
			target = strings.TrimPrefix(target, "/")
			alias = alias[strings.LastIndexByte(alias, '/')+1:]
			if target == "" || alias == "" {
				return nil, errdefs.Invalid("Links: invalid link %q: want NAME[:ALIAS]", l)
			}
			if err := localnet.CheckAliases([]string{alias}); err != nil {
				return nil, err
			}
			if ep.Links == nil {
				ep.Links = map[string]string{}
			}
			ep.Links[alias] = target
		}
	}
	a, err := localnet.Address(n, id, want)
	if err != nil {
		return nil, err
	}
	ep.Addr, ep.Static = a, want.IsValid()
	return ep, nil
}

// nextSeq is one more than the highest endpoint sequence of any network.
func (ln *localNets) nextSeq() uint64 {
	var top uint64
	for _, n := range ln.store.All() {
		for _, ep := range n.Endpoints {
			top = max(top, ep.Seq)
		}
	}
	return top + 1
}

// reserve records container id's endpoints on the networks it asks for
// at create, before anything is made, and returns its address on the
// first (invalid when it is on none). On failure nothing is recorded.
func (ln *localNets) reserve(id string, reqs []request) (netip.Addr, error) {
	if len(reqs) == 0 {
		return netip.Addr{}, nil
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	seq := ln.nextSeq()
	var (
		made  []*localnet.Network
		first netip.Addr
	)
	for i, r := range reqs {
		n, err := ln.find(r.network.ID)
		if err == nil {
			var ep *localnet.Endpoint
			ep, err = endpoint(n, id, r.settings, seq+uint64(i), "eth"+strconv.Itoa(i))
			if err == nil {
				n.Endpoints[id] = ep
				err = ln.store.Put(n)
				if i == 0 {
					first = ep.Addr
				}
			}
		}
		if err != nil {
			for _, m := range made {
				ln.forget(m.ID, id)
			}
			return netip.Addr{}, err
		}
		made = append(made, n)
	}
	return first, nil
}

// forget drops container id's endpoint on network nid from the store.
// The caller holds mu.
func (ln *localNets) forget(nid, id string) {
	n, err := ln.find(nid)
	if err != nil {
		return
	}
	delete(n.Endpoints, id)
	if err := ln.store.Put(n); err != nil {
		ln.log.Warn("forget an endpoint", "network.id", nid, "container.id", id, "err", err)
	}
}

// plug gives container id's namespace its interfaces on every local
// network it is on, its default route and its DNS server. It keeps what
// exists.
func (ln *localNets) plug(ctx context.Context, id string, host *containertypes.HostConfig) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.plugLocked(ctx, id, host)
}

func (ln *localNets) plugLocked(ctx context.Context, id string, host *containertypes.HostConfig) error {
	att := localnet.Of(ln.store.All(), id)
	var swarmNets []string
	if ln.swarmNets != nil {
		swarmNets = ln.swarmNets(id)
	}
	nets, run := resolverNets(host.NetworkMode, localnet.ResolverNetworks(att), swarmNets)
	nsPath := ln.node.NetnsPath(id)
	for _, a := range att {
		if err := bridge.Plug(ctx, nsPath, id, a.Network.ID, a.Endpoint.Ifname, local(a.Network), a.Endpoint.Addr); err != nil {
			return fmt.Errorf("network %s: %w", a.Network.Name, err)
		}
	}
	if len(att) > 0 {
		if err := ln.route(ctx, id, host.NetworkMode, att); err != nil {
			return err
		}
		ln.refreshDNS()
	}
	if !run {
		// A container on the default bridge keeps the node's
		// nameservers, as in dockerd; one on no network has no server.
		ln.resolver.Stop(id)
		return nil
	}
	return ln.resolver.Start(ctx, id, nsPath, nets, resolver.WithDNSConfig(dnsConfig(host)))
}

// route gives container id's namespace the default route that
// localnet.DefaultRoute picks among its local networks (att) and its
// interface on the node bridge, or none. A container in the host's
// namespace or another container's is left alone; one run with
// --network none has networks only once it left none.
func (ln *localNets) route(ctx context.Context, id string, mode containertypes.NetworkMode, att []localnet.Attached) error {
	if mode.IsHost() || mode.IsContainer() {
		return nil
	}
	cands := localnet.RouteCandidates(att)
	if ep, onDefault, ok := ln.onNode(id); ok {
		cands = append(cands, localnet.RouteCandidate{
			Network: network.NetworkBridge, WayOut: !onDefault, Ifname: ep.Ifname, Gateway: ln.node.Gateway(),
		})
	}
	gw, _ := localnet.DefaultRoute(cands)
	if err := bridge.DefaultRoute(ctx, ln.node.NetnsPath(id), gw.Ifname, gw.Gateway); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	return nil
}

// unplug removes every interface and endpoint of container id, and its
// DNS server: it is being removed.
func (ln *localNets) unplug(ctx context.Context, id string) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	ln.resolver.Stop(id)
	var errs []error
	for _, a := range localnet.Of(ln.store.All(), id) {
		if err := bridge.Unplug(ctx, id, a.Network.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		ln.forget(a.Network.ID, id)
	}
	ln.refreshDNS()
	return errors.Join(errs...)
}

// settings are container id's endpoints as inspect shows them.
func (ln *localNets) settings(id string) map[string]*network.EndpointSettings {
	return localnet.Settings(localnet.Of(ln.store.All(), id))
}

// dnsNames are the names local network ref's DNS knows: every
// container's on it (localnet.DNSNames); ok is false when ref names no
// local network.
func (ln *localNets) dnsNames(ref string) ([]string, bool) {
	n, ok, err := ln.store.Find(ref)
	if err != nil || !ok {
		return nil, false
	}
	names := ln.names()
	var out []string
	for id, ep := range n.Endpoints {
		out = append(out, localnet.DNSNames(names[id], ep)...)
	}
	return out, true
}

// restore brings every network's bridge and rules back, as a starting
// daemon must after a reboot, and each existing container's interfaces
// and DNS server; endpoints of containers that are gone are forgotten.
func (ln *localNets) restore(ctx context.Context, hosts map[string]*containertypes.HostConfig) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	var errs []error
	for _, n := range ln.store.All() {
		if err := bridge.EnsureLocal(ctx, local(n)); err != nil {
			errs = append(errs, err)
		}
		for id := range n.Endpoints {
			if _, ok := hosts[id]; !ok {
				ln.log.Warn("forgetting the endpoint of a container that is gone", "network.name", n.Name, "container.id", id)
				ln.forget(n.ID, id)
			}
		}
	}
	if err := ln.applyRules(ctx); err != nil {
		errs = append(errs, err)
	}
	for id, host := range hosts {
		if err := ln.plugLocked(ctx, id, host); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", id, err))
		}
	}
	ln.refreshDNS()
	return errors.Join(errs...)
}

// dnsConfig is a container's --dns, --dns-search and --dns-option.
func dnsConfig(host *containertypes.HostConfig) *swarm.DNSConfig {
	return &swarm.DNSConfig{Nameservers: host.DNS, Search: host.DNSSearch, Options: host.DNSOptions}
}

// connect puts container id (plain, with its host config) on network
// ref, as docker network connect: running or stopped. ifname takes the
// name of its interface there (Containers.nextIfname) once the connect
// is known to be allowed; checkConnect has passed.
func (ln *localNets) connect(ctx context.Context, ref, id, name string, host *containertypes.HostConfig, s *network.EndpointSettings, ifname func() (string, error)) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	n, err := ln.find(ref)
	if err != nil {
		return err
	}
	if _, ok := n.Endpoints[id]; ok {
		return errdefs.Forbidden("endpoint with name %s already exists in network %s", name, n.Name)
	}
	nm, err := ifname()
	if err != nil {
		return err
	}
	ep, err := endpoint(n, id, s, ln.nextSeq(), nm)
	if err != nil {
		return err
	}
	n.Endpoints[id] = ep
	if err := ln.store.Put(n); err != nil {
		return err
	}
	if err := ln.plugLocked(ctx, id, host); err != nil {
		if uerr := bridge.Unplug(ctx, id, n.ID); uerr != nil {
			ln.log.Warn("undo a failed connect", "container.id", id, "err", uerr)
		}
		ln.forget(n.ID, id)
		ln.refreshDNS()
		return err
	}
	return nil
}

// disconnect takes container id off network ref.
func (ln *localNets) disconnect(ctx context.Context, ref, id string, host *containertypes.HostConfig) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	n, err := ln.find(ref)
	if err != nil {
		return err
	}
	if _, ok := n.Endpoints[id]; !ok {
		return errdefs.Forbidden("container %s is not connected to network %s", id, n.Name)
	}
	if err := bridge.Unplug(ctx, id, n.ID); err != nil {
		return err
	}
	ln.forget(n.ID, id)
	if err := ln.plugLocked(ctx, id, host); err != nil {
		return err
	}
	if len(localnet.Of(ln.store.All(), id)) == 0 {
		// plugLocked routes only a container on local networks: this
		// one's route, if it has one, is now its node bridge's.
		return ln.route(ctx, id, host.NetworkMode, nil)
	}
	return nil
}

// reroute gives container id the default route localnet.DefaultRoute
// picks, after its interface on the node bridge came or went.
func (ln *localNets) reroute(ctx context.Context, id string, host *containertypes.HostConfig) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.route(ctx, id, host.NetworkMode, localnet.Of(ln.store.All(), id))
}

// plainHosts are the host configs of the plain containers in store.
func plainHosts(store *container.Store) map[string]*containertypes.HostConfig {
	out := map[string]*containertypes.HostConfig{}
	for _, ctr := range store.All() {
		h := ctr.HostConfig
		out[ctr.ID] = &h
	}
	return out
}

// CreateNetwork makes a user-defined bridge network; names are the other
// networks the node shows (the swarm's), whose names it must not take.
func (e *Engine) CreateNetwork(ctx context.Context, req network.CreateRequest, names []string) (string, error) {
	return e.Containers.nets.create(ctx, req, names)
}

// RemoveNetwork deletes a user-defined local network no container is on.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	return e.Containers.nets.remove(ctx, ref)
}

// PruneNetworks removes the local networks no container is on, and
// returns their names.
func (e *Engine) PruneNetworks(ctx context.Context, args filters.Args) ([]string, error) {
	return e.Containers.nets.prune(ctx, args)
}

// ConnectContainer puts a plain container on a network, as docker
// network connect: the default bridge, a local network or an attachable
// swarm network.
func (e *Engine) ConnectContainer(ctx context.Context, netRef, ctrRef string, s *network.EndpointSettings) error {
	c := e.Containers
	ref, l, err := c.plain(ctx, ctrRef, "connect")
	if err != nil {
		return err
	}
	var swarmNet bool
	if !predefinedNetwork(netRef) {
		_, err = c.nets.find(netRef)
		swarmNet = errdefs.Is(err, errdefs.KindNotFound) && c.swarm.enabled()
		if err != nil && !swarmNet {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ctr, ok := c.store.Get(ref.ID)
	if !ok || l.removed {
		return errdefs.NotFound("No such container: %s", ctrRef)
	}
	host := &ctr.HostConfig
	none := onNone(host.NetworkMode, ctr.OnNone)
	if netRef == network.NetworkNone && none && l.run == nil {
		// dockerd records a stopped container's networks alone, and
		// connecting it to one it is on again changes nothing.
		return nil
	}
	if err := checkConnect(host.NetworkMode, netRef, ref.Name, s, none, c.networkCount(ref.ID)); err != nil {
		return err
	}
	before := c.settings(ref.ID)
	switch {
	case netRef == network.NetworkNone:
		return c.setOnNone(ref.ID, true)
	case netRef == network.NetworkBridge:
		err = c.connectBridge(ctx, ref.ID, host)
	case swarmNet:
		err = c.connectSwarm(ctx, netRef, ref.ID, ref.Name, host, s)
		if err == nil {
			err = c.fitWayOut(ctx, ref.ID, host)
		}
	default:
		err = c.nets.connect(ctx, netRef, ref.ID, ref.Name, host, s, func() (string, error) { return c.nextIfname(ref.ID) })
		if err == nil {
			err = c.fitWayOut(ctx, ref.ID, host)
		}
	}
	if err != nil {
		return err
	}
	if err := c.joined(ref.ID, host, before, netRef == network.NetworkBridge); err != nil {
		return err
	}
	return c.republish(ctx, ref.ID)
}

// DisconnectContainer takes a plain container off a network: the
// default bridge, a local network or an attachable swarm network.
func (e *Engine) DisconnectContainer(ctx context.Context, netRef, ctrRef string) error {
	c := e.Containers
	ref, l, err := c.plain(ctx, ctrRef, "disconnect")
	if err != nil {
		return err
	}
	var swarmNet bool
	if !predefinedNetwork(netRef) {
		_, err = c.nets.find(netRef)
		swarmNet = errdefs.Is(err, errdefs.KindNotFound) && c.swarm.has(ref.ID, netRef)
		if err != nil && !swarmNet {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ctr, ok := c.store.Get(ref.ID)
	if !ok || l.removed {
		return errdefs.NotFound("No such container: %s", ctrRef)
	}
	host := &ctr.HostConfig
	if err := checkDisconnect(host.NetworkMode, netRef, ref.ID, onNone(host.NetworkMode, ctr.OnNone)); err != nil {
		return err
	}
	if netRef == network.NetworkNone {
		// Its namespace has its loopback alone either way.
		return c.setOnNone(ref.ID, false)
	}
	// The names it has now are never given again (nextIfname).
	if err := c.keepIfnames(ref.ID); err != nil {
		return err
	}
	names := c.leaving(ref.ID, ref.Name, netRef)
	switch {
	case netRef == network.NetworkBridge:
		err = c.exec.DisconnectBridge(ctx, ref.ID)
	case swarmNet:
		err = c.swarm.disconnect(ctx, ref.ID, netRef, host, c.localResolverNets(ref.ID))
	default:
		err = c.nets.disconnect(ctx, netRef, ref.ID, host)
	}
	if err != nil {
		return err
	}
	if err := c.fitWayOut(ctx, ref.ID, host); err != nil {
		return err
	}
	if err := c.left(ref.ID, names); err != nil {
		return err
	}
	return c.republish(ctx, ref.ID)
}

// networkCount is how many networks container id is on, none aside.
func (c *Containers) networkCount(id string) int {
	n := len(c.nets.settings(id)) + len(c.swarm.settings(id))
	if _, onDefault, ok := c.exec.NodeEndpoint(id); ok && onDefault {
		n++
	}
	return n
}

// setOnNone records that container id was connected to network none
// (on) or disconnected from it. The caller holds its lock.
func (c *Containers) setOnNone(id string, on bool) error {
	_, err := c.store.Update(id, func(ctr *container.Container) error {
		ctr.OnNone = &on
		return nil
	})
	return err
}

// IsLocalNetwork reports whether ref names one of the node's
// user-defined local networks.
func (e *Engine) IsLocalNetwork(ref string) bool { return e.Containers.nets.has(ref) }

// openLocalNets loads the node's local networks and brings them and the
// containers' interfaces on them back. onNode reports whether a
// container has an interface on the node bridge.
func openLocalNets(ctx context.Context, dir string, node *bridge.Bridge, dns *resolver.Manager, dp *dataplane.Dataplane, store *container.Store, onNode func(string) (executor.Endpoint, bool, bool), log *slog.Logger) (*localNets, error) {
	s, err := localnet.Open(dir)
	if err != nil {
		return nil, err
	}
	ln := &localNets{
		store: s, node: node, resolver: dns, swarmSubnets: dp.Subnets, onNode: onNode,
		log: log.With("component", "localnet"),
		names: func() map[string]string {
			out := map[string]string{}
			for _, ctr := range store.All() {
				out[ctr.ID] = ctr.Name
			}
			return out
		},
	}
	if err := ln.restore(ctx, plainHosts(store)); err != nil {
		ln.log.Warn("bring the local networks back", "err", err)
	}
	return ln, nil
}

// renamed refreshes the names the networks' DNS answers after a rename.
func (ln *localNets) renamed() {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	ln.refreshDNS()
}
