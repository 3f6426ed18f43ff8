package localnet

import (
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/ipam"
)

// DefaultPools are dockerd's default local address pools, in its order:
// 172.17.0.0/16 to 172.31.0.0/16 as /16s, then 192.168.0.0/16 as /20s.
var DefaultPools = []Pool{
	{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.18.0.0/15"), Size: 16},
	{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.24.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.28.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
}

// Pool is a range subnets are carved from, each of Size bits.
type Pool struct {
	Base netip.Prefix
	Size int
}

// validName is dockerd's rule for network names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// maxIfname is the longest Linux interface name.
const maxIfname = 15

// knownOptions are the bridge options accepted; any other is refused
// rather than silently ignored.
var knownOptions = map[string]bool{
	OptBridgeName: true, OptMasquerade: true, OptICC: true, OptMTU: true,
	"com.docker.network.bridge.host_binding_ipv4":       false,
	"com.docker.network.bridge.default_bridge":          false,
	"com.docker.network.container_iface_prefix":         false,
	"com.docker.network.bridge.gateway_mode_ipv4":       false,
	"com.docker.network.bridge.inhibit_ipv4":            false,
	"com.docker.network.bridge.trusted_host_interfaces": false,
	"com.docker.network.endpoint.ifname":                false,
}

// Taken is what a new network's subnet must not overlap, and names and
// bridges already in use on the node.
type Taken struct {
	// Subnets are those of the node's networks (local, the node bridge,
	// the swarm's it carries) and of its routes.
	Subnets []netip.Prefix
	// Names are the names of every network the node shows.
	Names []string
	// Bridges are the interface names in use on the node.
	Bridges []string
}

// Plan checks a create request for a local bridge network as dockerd
// does, and decides the network (without endpoints): its subnet (given,
// or the first free one of pools), gateway, range and bridge name. id is
// the new network's ID. A refusal names the field at fault.
func Plan(req network.CreateRequest, id string, pools []Pool, taken Taken) (*Network, error) {
	if req.Name == "" {
		return nil, errdefs.Invalid("Name: a network needs a name")
	}
	if !validName.MatchString(req.Name) {
		return nil, errdefs.Invalid("Name: invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	if slices.Contains(taken.Names, req.Name) {
		return nil, errdefs.Conflict("network with name %s already exists", req.Name)
	}
	if req.Driver != "" && req.Driver != "bridge" {
		return nil, errdefs.Invalid("Driver: %q is not a local network driver here (bridge is)", req.Driver)
	}
	if req.Scope != "" && req.Scope != "local" {
		return nil, errdefs.Invalid("Scope: a bridge network is local, not %s", req.Scope)
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return nil, errdefs.Invalid("EnableIPv6: IPv6 networks are not supported on this node")
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return nil, errdefs.Invalid("EnableIPv4: a network without IPv4 is not supported on this node")
	}
	if req.ConfigOnly || req.ConfigFrom != nil && req.ConfigFrom.Network != "" {
		return nil, errdefs.Invalid("ConfigOnly/ConfigFrom: config-only networks are not supported on this node")
	}
	if req.Ingress {
		return nil, errdefs.Forbidden("Ingress: an ingress network is a swarm network (-d overlay --ingress)")
	}
	for k, v := range req.Options {
		if ok, known := knownOptions[k]; !ok {
			if known {
				return nil, errdefs.Invalid("Options: %s is not supported on this node", k)
			}
			return nil, errdefs.Invalid("Options: unknown bridge option %s", k)
		}
		if err := checkOption(k, v); err != nil {
			return nil, err
		}
	}
	n := &Network{
		ID: id, Name: req.Name, Internal: req.Internal, Attachable: req.Attachable,
		Labels: maps.Clone(req.Labels), Options: maps.Clone(req.Options), Endpoints: map[string]*Endpoint{},
	}
	n.Bridge = req.Options[OptBridgeName]
	if n.Bridge == "" {
		n.Bridge = "br-" + id[:12]
	}
	if slices.Contains(taken.Bridges, n.Bridge) {
		return nil, errdefs.Conflict("Options: %s=%s: an interface of that name exists on the node", OptBridgeName, n.Bridge)
	}
	var cfg network.IPAMConfig
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return nil, errdefs.Invalid("IPAM.Driver: only the default IPAM driver is supported, not %q", req.IPAM.Driver)
		}
		switch len(req.IPAM.Config) {
		case 0:
		case 1:
			cfg = req.IPAM.Config[0]
		default:
			return nil, errdefs.Invalid("IPAM.Config: at most one IPv4 subnet per network is supported, got %d", len(req.IPAM.Config))
		}
	}
	if len(cfg.AuxAddress) > 0 {
		return nil, errdefs.Invalid("IPAM.Config.AuxiliaryAddresses: not supported on this node")
	}
	if cfg.Subnet.IsValid() {
		if err := ipam.CheckSubnet(cfg.Subnet); err != nil {
			return nil, errdefs.Invalid("IPAM.Config.Subnet: %v", err)
		}
		if cfg.Subnet != cfg.Subnet.Masked() {
			return nil, errdefs.Invalid("IPAM.Config.Subnet: %s is not a network address (did you mean %s?)", cfg.Subnet, cfg.Subnet.Masked())
		}
		for _, t := range taken.Subnets {
			if t.Overlaps(cfg.Subnet) {
				return nil, errdefs.Forbidden("IPAM.Config.Subnet: pool %s overlaps with other one on this address space (%s)", cfg.Subnet, t)
			}
		}
		n.Subnet, n.UserSubnet = cfg.Subnet, true
	} else {
		if cfg.Gateway.IsValid() || cfg.IPRange.IsValid() {
			return nil, errdefs.Invalid("IPAM.Config: a gateway or an IP range needs a subnet (--subnet)")
		}
		s, err := FreeSubnet(pools, taken.Subnets)
		if err != nil {
			return nil, err
		}
		n.Subnet = s
	}
	n.Gateway = ipam.Gateway(n.Subnet)
	if cfg.Gateway.IsValid() {
		if !n.Subnet.Contains(cfg.Gateway) || cfg.Gateway == n.Subnet.Addr() || !n.Subnet.Contains(cfg.Gateway.Next()) {
			return nil, errdefs.Invalid("IPAM.Config.Gateway: %s is not a host address of subnet %s", cfg.Gateway, n.Subnet)
		}
		n.Gateway = cfg.Gateway
	}
	if cfg.IPRange.IsValid() {
		if !cfg.IPRange.Addr().Is4() || cfg.IPRange != cfg.IPRange.Masked() {
			return nil, errdefs.Invalid("IPAM.Config.IPRange: %s is not an IPv4 network address", cfg.IPRange)
		}
		if cfg.IPRange.Bits() < n.Subnet.Bits() || !n.Subnet.Contains(cfg.IPRange.Addr()) {
			return nil, errdefs.Invalid("IPAM.Config.IPRange: %s is not inside subnet %s", cfg.IPRange, n.Subnet)
		}
		n.IPRange = cfg.IPRange
	}
	return n, nil
}

// checkOption checks the value of a known option.
func checkOption(k, v string) error {
	switch k {
	case OptBridgeName:
		if v == "" || len(v) > maxIfname || strings.ContainsAny(v, "/: \t\n") {
			return errdefs.Invalid("Options: %s=%q: want an interface name of at most %d bytes without '/', ':' or spaces", k, v, maxIfname)
		}
	case OptMasquerade, OptICC:
		if _, err := strconv.ParseBool(v); err != nil {
			return errdefs.Invalid("Options: %s=%q: want true or false", k, v)
		}
		if k == OptICC && v == "false" || k == OptICC && v == "0" {
			return errdefs.Invalid("Options: %s=false is not supported on this node", k)
		}
	case OptMTU:
		mtu, err := strconv.Atoi(v)
		if err != nil || mtu < 68 || mtu > 65535 {
			return errdefs.Invalid("Options: %s=%q: want an MTU from 68 to 65535", k, v)
		}
	}
	return nil
}

// FreeSubnet returns the first subnet of pools, in order, that overlaps
// none of taken, as dockerd's default IPAM picks one.
func FreeSubnet(pools []Pool, taken []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		s, err := ipam.CarveSubnet([]netip.Prefix{p.Base}, p.Size, taken)
		if err == nil {
			return s, nil
		}
	}
	return netip.Prefix{}, errdefs.Forbidden("all predefined address pools have been fully subnetted")
}

// Address decides a container's address on n: want when asked (checked:
// only on a network with a user-given subnet, inside it, not its
// gateway, network or broadcast address, and free), else the lowest free
// one of the range. The container's own current endpoint does not count
// as holding its address.
func Address(n *Network, containerID string, want netip.Addr) (netip.Addr, error) {
	used := func(a netip.Addr) bool {
		if a == n.Gateway {
			return true
		}
		for id, ep := range n.Endpoints {
			if id != containerID && ep.Addr == a {
				return true
			}
		}
		return false
	}
	if want.IsValid() {
		if !n.UserSubnet {
			return netip.Addr{}, errdefs.Invalid("IPAMConfig.IPv4Address: user specified IP address is supported only when connecting to networks with user configured subnets (%s has none)", n.Name)
		}
		if !want.Is4() || !n.Subnet.Contains(want) || want == n.Subnet.Addr() || !n.Subnet.Contains(want.Next()) {
			return netip.Addr{}, errdefs.Invalid("IPAMConfig.IPv4Address: %s is not a host address of network %s (%s)", want, n.Name, n.Subnet)
		}
		if used(want) {
			return netip.Addr{}, errdefs.Conflict("IPAMConfig.IPv4Address: address %s is already in use on network %s", want, n.Name)
		}
		return want, nil
	}
	pool := ipam.NewPool(n.Subnet, n.IPRange)
	pool.Use(n.Gateway)
	for id, ep := range n.Endpoints {
		if id != containerID {
			pool.Use(ep.Addr)
		}
	}
	a, err := pool.Take()
	if err != nil {
		return netip.Addr{}, errdefs.Unavailable("network %s: %v", n.Name, err)
	}
	return a, nil
}

// CheckAliases refuses aliases that cannot be DNS names.
func CheckAliases(aliases []string) error {
	for _, a := range aliases {
		if a == "" || len(a) > 253 || strings.ContainsAny(a, " \t\n/:") {
			return errdefs.Invalid("Aliases: %q is not a valid DNS name", a)
		}
	}
	return nil
}

// NextIfname names a container's next interface as dockerd 20.10 does:
// ethN, with N one more than the highest it gave in the container's
// namespace, never a name given before even when it is free again
// (eth0, eth1; eth1 goes; the next is eth2). next is the count kept for
// the container (IfindexFloor), used the names it has now; it returns
// the name and the count after it.
func NextIfname(next int, used []string) (string, int) {
	n := IfindexFloor(next, used)
	return "eth" + strconv.Itoa(n), n + 1
}

// IfindexFloor is the lowest N that NextIfname may give a container with
// count next and interfaces used: above every ethN it has. Kept before an
// interface goes, it makes that name never come back.
func IfindexFloor(next int, used []string) int {
	for _, name := range used {
		if i, err := strconv.Atoi(strings.TrimPrefix(name, "eth")); err == nil && strings.HasPrefix(name, "eth") && i >= next {
			next = i + 1
		}
	}
	return next
}
