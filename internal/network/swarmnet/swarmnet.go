// Package swarmnet reads and writes what a swarm network object records,
// in the places SwarmKit and the Docker API keep it: the allocated subnet
// and gateway in IPAMOptions.Configs, the VXLAN ID in the driver state's
// options, encryption in the driver options; and how a service's
// reference names a network.
package swarmnet

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// Driver option keys, as Docker names them.
const (
	// VNIOption is the driver state option holding a network's VXLAN ID.
	VNIOption = "com.docker.network.driver.overlay.vxlanid_list"
	// EncryptedOption in the driver options asks for an encrypted network.
	EncryptedOption = "encrypted"
	// DriverOverlay is the only swarm-scoped network driver.
	DriverOverlay = "overlay"
	// IngressName is the routing mesh network's name.
	IngressName = "ingress"
)

// TunnelPool is where nodes' addresses inside the encrypted overlays'
// WireGuard tunnel come from: the benchmarking range (RFC 2544), which
// neither the default address pool nor a LAN is likely to use.
var TunnelPool = netip.MustParsePrefix("198.18.0.0/16")

// Allocation is what the allocator decided for a network.
type Allocation struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
	Range   netip.Prefix // invalid when addresses come from the whole subnet
	VNI     uint32
}

// Allocated returns what n was given, and false while it has not been
// allocated (no subnet or no VXLAN ID recorded).
func Allocated(n *store.Network) (Allocation, bool) {
	var a Allocation
	if n.IPAMOptions == nil || len(n.IPAMOptions.Configs) == 0 {
		return a, false
	}
	c := n.IPAMOptions.Configs[0]
	if !c.Subnet.IsValid() || !c.Gateway.IsValid() {
		return a, false
	}
	a.Subnet, a.Gateway, a.Range = c.Subnet, c.Gateway, c.Range
	v, err := strconv.ParseUint(n.DriverState.Options[VNIOption], 10, 32)
	if err != nil || v == 0 {
		return a, false
	}
	a.VNI = uint32(v)
	return a, true
}

// Record writes an allocation into n (a copy the caller owns) where
// Docker's API shows it.
func Record(n *store.Network, a Allocation) {
	cfg := swarm.IPAMConfig{Subnet: a.Subnet, Gateway: a.Gateway, Range: a.Range}
	driver := swarm.Driver{Name: "default"}
	if n.Spec.IPAMOptions != nil && n.Spec.IPAMOptions.Driver.Name != "" {
		driver = n.Spec.IPAMOptions.Driver
	}
	n.IPAMOptions = &swarm.IPAMOptions{Driver: driver, Configs: []swarm.IPAMConfig{cfg}}
	n.DriverState = swarm.Driver{Name: DriverOverlay, Options: map[string]string{VNIOption: strconv.FormatUint(uint64(a.VNI), 10)}}
}

// Encrypted reports whether n asks for encryption (--opt encrypted, with
// any value but "false").
func Encrypted(n *store.Network) bool {
	d := n.Spec.DriverConfiguration
	if d == nil {
		return false
	}
	v, ok := d.Options[EncryptedOption]
	return ok && !strings.EqualFold(v, "false")
}

// Ingress returns the ingress network among networks, or nil.
func Ingress(networks []*store.Network) *store.Network {
	for _, n := range networks {
		if n.Spec.Ingress {
			return n
		}
	}
	return nil
}

// Resolve finds the network a service's reference names, as dockerd
// resolves them: a full ID, then a full name, then a unique ID prefix.
func Resolve(networks []*store.Network, target string) *store.Network {
	if target == "" {
		return nil
	}
	for _, n := range networks {
		if n.ID == target {
			return n
		}
	}
	for _, n := range networks {
		if n.Spec.Name == target {
			return n
		}
	}
	var found *store.Network
	for _, n := range networks {
		if strings.HasPrefix(n.ID, target) {
			if found != nil {
				return nil
			}
			found = n
		}
	}
	return found
}

// PublishesIngress reports whether an endpoint spec publishes a port in
// ingress mode, which puts the service on the ingress network.
func PublishesIngress(ep *swarm.EndpointSpec) bool {
	if ep == nil {
		return false
	}
	for _, p := range ep.Ports {
		if p.PublishMode == "" || p.PublishMode == swarm.PortConfigPublishModeIngress {
			return true
		}
	}
	return false
}

// EndpointSpec returns a service's endpoint spec with Docker's default
// (vip mode, no ports) where it has none.
func EndpointSpec(ep *swarm.EndpointSpec) swarm.EndpointSpec {
	if ep == nil {
		return swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	}
	out := *ep
	if out.Mode == "" {
		out.Mode = swarm.ResolutionModeVIP
	}
	return out
}

// SameEndpoint reports whether two endpoint specs ask for the same
// networking of their tasks: the same mode and published ports.
func SameEndpoint(a, b swarm.EndpointSpec) bool {
	return EndpointSpec(&a).Mode == EndpointSpec(&b).Mode && slices.Equal(a.Ports, b.Ports)
}
