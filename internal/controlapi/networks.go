package controlapi

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/manager/allocator"
	"github.com/shoal-project/shoal/internal/network/ipam"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// Swarm-scoped networks, as SwarmKit's control API keeps them behind
// dockerd's rules. A network is allocated (subnet, gateway, VXLAN ID)
// in the transaction that creates it, so that create answers with them
// and two creates never take one subnet.

// VXLAN IDs: SwarmKit starts at 4096; 24 bits in all.
const (
	firstVNI = 4096
	maxVNI   = 1<<24 - 1
)

// CreateNetwork validates a network create request for the overlay
// driver and stores the network, allocated; it returns the network's ID.
func (a *API) CreateNetwork(ctx context.Context, req network.CreateRequest) (string, error) {
	spec, err := networkSpec(req)
	if err != nil {
		return "", err
	}
	n := &store.Network{Network: swarm.Network{ID: identity.NewID(), Spec: spec}}
	err = a.store.Update(ctx, func(tx *store.WriteTx) error {
		if len(store.ByName[*store.Network](tx.ReadTx, spec.Name)) > 0 {
			return errdefs.Conflict("network with name %s already exists", spec.Name)
		}
		existing := store.All[*store.Network](tx.ReadTx)
		if spec.Ingress {
			if in := swarmnet.Ingress(existing); in != nil {
				return rpcError(errdefs.KindConflict, "AlreadyExists", "ingress network (%s) is already present", in.ID)
			}
		}
		alloc, err := AllocateNetwork(spec, existing, store.TheCluster(tx.ReadTx))
		if err != nil {
			return err
		}
		swarmnet.Record(n, alloc)
		return tx.Put(n)
	})
	if err != nil {
		return "", err
	}
	a.log.Info("network created", "network.id", n.ID, "network.name", spec.Name)
	return n.ID, nil
}

// networkSpec checks a create request and returns the swarm network spec
// it asks for. Only the overlay driver makes swarm networks.
func networkSpec(req network.CreateRequest) (swarm.NetworkSpec, error) {
	var spec swarm.NetworkSpec
	if err := validateName(req.Name); err != nil {
		return spec, err
	}
	if req.Driver != swarmnet.DriverOverlay {
		return spec, errdefs.Invalid("driver %q: swarm networks use the overlay driver", req.Driver)
	}
	switch req.Scope {
	case "", "swarm":
	default:
		return spec, errdefs.Invalid("scope %q: an overlay network's scope is swarm", req.Scope)
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return spec, errdefs.Invalid("EnableIPv6: IPv6 overlay networks are not supported")
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return spec, errdefs.Invalid("EnableIPv4: an overlay network needs IPv4")
	}
	if req.ConfigOnly || req.ConfigFrom != nil {
		return spec, errdefs.Invalid("ConfigOnly, ConfigFrom: config-only networks are not supported")
	}
	if req.Ingress && req.Attachable {
		return spec, errdefs.Invalid("Attachable: an ingress network cannot be attachable")
	}
	if req.Ingress && req.Internal {
		return spec, errdefs.Invalid("Internal: an ingress network cannot be internal")
	}
	spec = swarm.NetworkSpec{
		Annotations:         swarm.Annotations{Name: req.Name, Labels: clone(req.Labels)},
		DriverConfiguration: &swarm.Driver{Name: swarmnet.DriverOverlay, Options: clone(req.Options)},
		Internal:            req.Internal,
		Attachable:          req.Attachable,
		Ingress:             req.Ingress,
		Scope:               "swarm",
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	if v, ok := req.Options[swarmnet.VNIOption]; ok {
		if _, err := parseVNI(v); err != nil {
			return spec, err
		}
	}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return spec, errdefs.Invalid("IPAM.Driver %q: only the default IPAM driver is supported", req.IPAM.Driver)
		}
		if len(req.IPAM.Config) > 1 {
			return spec, errdefs.Invalid("IPAM.Config: one subnet per network is supported, got %d", len(req.IPAM.Config))
		}
		opts := &swarm.IPAMOptions{Driver: swarm.Driver{Name: "default", Options: clone(req.IPAM.Options)}}
		for _, c := range req.IPAM.Config {
			cfg, err := ipamConfig(c)
			if err != nil {
				return spec, err
			}
			opts.Configs = append(opts.Configs, cfg)
		}
		spec.IPAMOptions = opts
	}
	return spec, nil
}

// ipamConfig checks one IPAM config: an IPv4 subnet, a gateway and range
// inside it.
func ipamConfig(c network.IPAMConfig) (swarm.IPAMConfig, error) {
	var out swarm.IPAMConfig
	if len(c.AuxAddress) > 0 {
		return out, errdefs.Invalid("IPAM.Config.AuxiliaryAddresses: auxiliary addresses are not supported on overlay networks")
	}
	if !c.Subnet.IsValid() {
		if c.Gateway.IsValid() || c.IPRange.IsValid() {
			return out, errdefs.Invalid("IPAM.Config: a gateway or an IP range needs a subnet")
		}
		return out, nil
	}
	if !c.Subnet.Addr().Is4() {
		return out, errdefs.Invalid("IPAM.Config.Subnet %s: only IPv4 subnets are supported", c.Subnet)
	}
	if c.Subnet != c.Subnet.Masked() {
		return out, errdefs.Invalid("IPAM.Config.Subnet %s: invalid subnet, did you mean %s?", c.Subnet, c.Subnet.Masked())
	}
	if err := ipam.CheckSubnet(c.Subnet); err != nil {
		return out, errdefs.Invalid("IPAM.Config.Subnet: %v", err)
	}
	out.Subnet = c.Subnet
	if c.Gateway.IsValid() {
		if !c.Subnet.Contains(c.Gateway) || c.Gateway == c.Subnet.Addr() {
			return out, errdefs.Invalid("IPAM.Config.Gateway %s: the gateway must be a host address of the subnet %s", c.Gateway, c.Subnet)
		}
		out.Gateway = c.Gateway
	}
	if c.IPRange.IsValid() {
		if c.IPRange != c.IPRange.Masked() || !c.Subnet.Contains(c.IPRange.Addr()) || c.IPRange.Bits() < c.Subnet.Bits() {
			return out, errdefs.Invalid("IPAM.Config.IPRange %s: the range must be a network inside the subnet %s", c.IPRange, c.Subnet)
		}
		out.Range = c.IPRange
	}
	return out, nil
}

func parseVNI(s string) (uint32, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || v < 1 || v > maxVNI {
		return 0, errdefs.Invalid("option %s %q: a VXLAN ID is a number from 1 to %d", swarmnet.VNIOption, s, maxVNI)
	}
	return uint32(v), nil
}

// AllocateNetwork decides a new network's subnet (the spec's, or the next
// free one of the cluster's default address pool), gateway (the spec's,
// or the subnet's first host) and VXLAN ID (the spec's, or the lowest free
// one from 4096), refusing what overlaps or clashes with existing ones.
func AllocateNetwork(spec swarm.NetworkSpec, existing []*store.Network, cluster *store.Cluster) (swarmnet.Allocation, error) {
	var out swarmnet.Allocation
	var taken []netip.Prefix
	vnis := map[uint32]string{}
	for _, n := range existing {
		if a, ok := swarmnet.Allocated(n); ok {
			taken = append(taken, a.Subnet)
			vnis[a.VNI] = n.Spec.Name
		}
	}
	var cfg swarm.IPAMConfig
	if spec.IPAMOptions != nil && len(spec.IPAMOptions.Configs) > 0 {
		cfg = spec.IPAMOptions.Configs[0]
	}
	if cfg.Subnet.IsValid() {
		for _, t := range taken {
			if t.Overlaps(cfg.Subnet) {
				return out, errdefs.Forbidden("invalid pool request: Pool overlaps with other one on this address space (subnet %s overlaps %s)", cfg.Subnet, t)
			}
		}
		out.Subnet = cfg.Subnet
	} else {
		pools, size := ipam.DefaultAddrPool, ipam.DefaultSubnetSize
		if cluster != nil && len(cluster.ClusterInfo.DefaultAddrPool) > 0 {
			pools = cluster.ClusterInfo.DefaultAddrPool
		}
		if cluster != nil && cluster.ClusterInfo.SubnetSize != 0 {
			size = int(cluster.ClusterInfo.SubnetSize)
		}
		subnet, err := ipam.CarveSubnet(pools, size, taken)
		if err != nil {
			return out, err
		}
		out.Subnet = subnet
	}
	out.Gateway = cfg.Gateway
	if !out.Gateway.IsValid() {
		out.Gateway = ipam.Gateway(out.Subnet)
	}
	out.Range = cfg.Range
	var opts map[string]string
	if spec.DriverConfiguration != nil {
		opts = spec.DriverConfiguration.Options
	}
	if v, ok := opts[swarmnet.VNIOption]; ok {
		vni, err := parseVNI(v)
		if err != nil {
			return out, err
		}
		if other, used := vnis[vni]; used {
			return out, errdefs.Conflict("option %s %d: network %s uses that VXLAN ID", swarmnet.VNIOption, vni, other)
		}
		out.VNI = vni
		return out, nil
	}
	for v := uint32(firstVNI); v <= maxVNI; v++ {
		if _, used := vnis[v]; !used {
			out.VNI = v
			return out, nil
		}
	}
	return out, errdefs.Unavailable("no free VXLAN ID left")
}

// IngressNetwork returns the ingress network a new swarm starts with
// (named ingress, the first subnet of its default address pool),
// allocated.
func IngressNetwork(cluster *store.Cluster) (*store.Network, error) {
	spec := swarm.NetworkSpec{
		Annotations:         swarm.Annotations{Name: swarmnet.IngressName, Labels: map[string]string{}},
		DriverConfiguration: &swarm.Driver{Name: swarmnet.DriverOverlay},
		Ingress:             true,
		Scope:               "swarm",
	}
	a, err := AllocateNetwork(spec, nil, cluster)
	if err != nil {
		return nil, err
	}
	n := &store.Network{Network: swarm.Network{ID: identity.NewID(), Spec: spec}}
	swarmnet.Record(n, a)
	return n, nil
}

// GetNetwork returns the swarm network ref names (ID, name or unique ID
// prefix).
func (a *API) GetNetwork(ctx context.Context, ref string) (*store.Network, error) {
	var (
		n   *store.Network
		err error
	)
	a.store.View(func(tx store.ReadTx) { n, err = findNetwork(tx, ref) })
	return n, err
}

func findNetwork(tx store.ReadTx, ref string) (*store.Network, error) {
	n, err := lookup(tx, "network", ref, store.ByName[*store.Network])
	if errdefs.Is(err, errdefs.KindNotFound) {
		return nil, errdefs.NotFound("network %s not found", ref)
	}
	return n, err
}

// ListNetworks returns the swarm networks.
func (a *API) ListNetworks(ctx context.Context) []*store.Network {
	var out []*store.Network
	a.store.View(func(tx store.ReadTx) { out = store.All[*store.Network](tx) })
	return out
}

// NetworkUsers returns the names of the services attached to the network
// (for the ingress network: those that publish in ingress mode), sorted.
func NetworkUsers(tx store.ReadTx, n *store.Network) []string {
	networks := store.All[*store.Network](tx)
	var names []string
	for _, s := range store.All[*store.Service](tx) {
		if usesNetwork(s.Spec, n, networks) {
			names = append(names, s.Spec.Name)
		}
	}
	slices.Sort(names)
	return names
}

func usesNetwork(spec swarm.ServiceSpec, n *store.Network, networks []*store.Network) bool {
	if n.Spec.Ingress {
		return swarmnet.PublishesIngress(spec.EndpointSpec)
	}
	for _, ref := range spec.TaskTemplate.Networks {
		if swarmnet.Resolve(networks, ref.Target) == n {
			return true
		}
	}
	return false
}

// RemoveNetwork deletes the swarm network ref, refused while a service is
// attached to it or a live task holds an address on it, as SwarmKit does.
// Tasks on their way out (their service removed, as `docker stack rm`
// removes services right before their networks) do not refuse it: the
// removal waits, up to networkRemoveWait, until they have ended and their
// nodes have let the network go, so that its subnet and VXLAN ID are free
// for a network created right after.
func (a *API) RemoveNetwork(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, networkRemoveWait)
	defer cancel()
	sub := a.store.Subscribe()
	defer sub.Close()
	for {
		var (
			id     string
			ending error
		)
		err := a.store.Update(ctx, func(tx *store.WriteTx) error {
			n, err := findNetwork(tx.ReadTx, ref)
			if err != nil {
				return err
			}
			if ending, err = checkUnused(tx.ReadTx, n); err != nil || ending != nil {
				return err
			}
			id = n.ID
			return tx.Delete(n)
		})
		if err != nil {
			return err
		}
		if ending == nil {
			a.log.Info("network removed", "network.id", id)
			return nil
		}
		select {
		case <-ctx.Done():
			return ending
		case <-sub.Wake():
			sub.Drain()
		}
	}
}

// networkRemoveWait bounds how long a network removal waits for the tasks
// on their way out to end: less than a follower waits for the leader to
// answer a forwarded request.
const networkRemoveWait = 30 * time.Second

// checkUnused refuses a network a service or a live task uses; it returns
// ending, the error to give if waiting fails, when only tasks on their way
// out still hold it.
func checkUnused(tx store.ReadTx, n *store.Network) (ending, err error) {
	if users := NetworkUsers(tx, n); len(users) > 0 {
		if n.Spec.Ingress {
			return nil, rpcError(errdefs.KindForbidden, "FailedPrecondition", "ingress network cannot be removed because service %s depends on it", strings.Join(users, ", "))
		}
		return nil, rpcError(errdefs.KindForbidden, "FailedPrecondition", "network %s is in use by service %s", n.Spec.Name, strings.Join(users, ", "))
	}
	for _, t := range store.All[*store.Task](tx) {
		if !allocator.Holds(t) || !slices.ContainsFunc(t.NetworksAttachments, func(at swarm.NetworkAttachment) bool { return at.Network.ID == n.ID }) {
			continue
		}
		inUse := rpcError(errdefs.KindForbidden, "FailedPrecondition", "network %s is in use by task %s", n.Spec.Name, t.ID)
		if !taskstate.Terminal(t.DesiredState) {
			return nil, inUse
		}
		ending = inUse
	}
	return ending, nil
}

// PruneNetworks removes the swarm networks no service or task uses, but
// not the ingress network, that pass f (label, until); it returns their
// names.
func (a *API) PruneNetworks(ctx context.Context, f filters.Args) ([]string, error) {
	if err := f.Validate("label", "label!", "until"); err != nil {
		return nil, err
	}
	until, err := f.Until(a.now())
	if err != nil {
		return nil, err
	}
	var removed []string
	err = a.store.Update(ctx, func(tx *store.WriteTx) error {
		for _, n := range store.All[*store.Network](tx.ReadTx) {
			if n.Spec.Ingress || !f.Labels("label", n.Spec.Labels) || !f.NotLabels("label!", n.Spec.Labels) ||
				(!until.IsZero() && !n.CreatedAt.Before(until)) {
				continue
			}
			if ending, err := checkUnused(tx.ReadTx, n); ending != nil || err != nil {
				continue
			}
			if err := tx.Delete(n); err != nil {
				return err
			}
			removed = append(removed, n.Spec.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// resolveNetworks makes a service spec's network references name networks
// by ID, as dockerd stores them; a reference to no network, or to the
// ingress network (which services join by publishing ports), is refused.
func resolveNetworks(tx store.ReadTx, spec *swarm.ServiceSpec) error {
	if len(spec.TaskTemplate.Networks) == 0 {
		return nil
	}
	networks := store.All[*store.Network](tx)
	seen := map[string]bool{}
	for i := range spec.TaskTemplate.Networks {
		ref := &spec.TaskTemplate.Networks[i]
		n := swarmnet.Resolve(networks, ref.Target)
		switch {
		case n == nil:
			return errdefs.NotFound("network %s not found", ref.Target)
		case n.Spec.Ingress:
			return invalidArgument("service cannot be explicitly attached to the ingress network %q", n.Spec.Name)
		case seen[n.ID]:
			return invalidArgument("network %s is attached more than once (TaskTemplate.Networks)", n.Spec.Name)
		}
		seen[n.ID] = true
		ref.Target = n.ID
	}
	return nil
}

// InspectNetworks returns the swarm networks as GET /networks shows them
// on a manager; verbose adds each one's services and their tasks.
func (a *API) InspectNetworks(ctx context.Context, verbose bool) []network.Inspect {
	var out []network.Inspect
	a.store.View(func(tx store.ReadTx) {
		for _, n := range store.All[*store.Network](tx) {
			out = append(out, inspectNetwork(tx, n, verbose))
		}
	})
	return out
}

// InspectNetwork returns the swarm network ref names as GET
// /networks/{id} shows it.
func (a *API) InspectNetwork(ctx context.Context, ref string, verbose bool) (network.Inspect, error) {
	var (
		out network.Inspect
		err error
	)
	a.store.View(func(tx store.ReadTx) {
		var n *store.Network
		if n, err = findNetwork(tx, ref); err == nil {
			out = inspectNetwork(tx, n, verbose)
		}
	})
	return out, err
}

// inspectNetwork converts a swarm network to the Engine API's form, as
// dockerd does: the allocated IPAM config, the driver state's options,
// the nodes with tasks on it as peers and, verbose, its services.
func inspectNetwork(tx store.ReadTx, n *store.Network, verbose bool) network.Inspect {
	out := network.Inspect{Network: network.Network{
		Name:       n.Spec.Name,
		ID:         n.ID,
		Created:    n.CreatedAt,
		Scope:      "swarm",
		Driver:     swarmnet.DriverOverlay,
		EnableIPv4: true,
		IPAM:       network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Internal:   n.Spec.Internal,
		Attachable: n.Spec.Attachable,
		Ingress:    n.Spec.Ingress,
		Options:    map[string]string{},
		Labels:     n.Spec.Labels,
	}, Containers: map[string]network.EndpointResource{}}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if n.Spec.DriverConfiguration != nil {
		for k, v := range n.Spec.DriverConfiguration.Options {
			out.Options[k] = v
		}
	}
	for k, v := range n.DriverState.Options {
		out.Options[k] = v
	}
	if a, ok := swarmnet.Allocated(n); ok {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: a.Subnet, IPRange: a.Range, Gateway: a.Gateway})
	}
	peers := map[string]network.PeerInfo{}
	services := map[string]network.ServiceInfo{}
	for _, t := range store.All[*store.Task](tx) {
		if t.NodeID == "" || !allocator.Holds(t) {
			continue
		}
		for _, at := range t.NetworksAttachments {
			if at.Network.ID != n.ID || len(at.Addresses) == 0 {
				continue
			}
			nd := store.Get[*store.Node](tx, t.NodeID)
			if nd != nil {
				ip, _ := netip.ParseAddr(cmp.Or(nd.DataPathAddr, nd.Status.Addr))
				peers[nd.ID] = network.PeerInfo{Name: nd.Description.Hostname, IP: ip}
			}
			if !verbose {
				continue
			}
			svc := store.Get[*store.Service](tx, t.ServiceID)
			if svc == nil {
				continue
			}
			info := services[svc.Spec.Name]
			for _, v := range svc.Endpoint.VirtualIPs {
				if v.NetworkID == n.ID {
					info.VIP = v.Addr.Addr()
				}
			}
			info.Ports = publishedPorts(svc, n)
			hostIP := ""
			if nd != nil {
				hostIP = cmp.Or(nd.DataPathAddr, nd.Status.Addr)
			}
			info.Tasks = append(info.Tasks, network.Task{
				Name: taskName(tx, t), EndpointID: t.ID, EndpointIP: at.Addresses[0].Addr(),
				Info: map[string]string{"Host IP": hostIP},
			})
			services[svc.Spec.Name] = info
		}
	}
	for _, p := range peers {
		out.Peers = append(out.Peers, p)
	}
	slices.SortFunc(out.Peers, func(a, b network.PeerInfo) int { return strings.Compare(a.Name, b.Name) })
	if verbose {
		out.Services = services
	}
	return out
}

// publishedPorts lists a service's published ports as dockerd's verbose
// network inspect does, on the ingress network only.
func publishedPorts(svc *store.Service, n *store.Network) []string {
	out := []string{}
	if !n.Spec.Ingress {
		return out
	}
	for _, p := range svc.Endpoint.Ports {
		if p.PublishMode == swarm.PortConfigPublishModeIngress {
			out = append(out, "Target: "+strconv.Itoa(int(p.TargetPort))+", Publish: "+strconv.Itoa(int(p.PublishedPort)))
		}
	}
	return out
}
