// Package localnet is a node's user-defined local networks (docker
// network create -d bridge): what each is and which containers are on it,
// kept in one file per network under the data root (never in raft), and
// every decision about them as pure functions — checking a create
// request, choosing a subnet from dockerd's default pools, giving a
// container an address, the names its embedded DNS answers. The I/O
// (Linux bridges, veths, nftables) is the engine's and the bridge
// package's.
package localnet

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/moby/moby/api/types/network"
)

// Option keys of a bridge network that dockerd understands and Shoal
// applies.
const (
	OptBridgeName = "com.docker.network.bridge.name"
	OptMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
	OptICC        = "com.docker.network.bridge.enable_icc"
	OptMTU        = "com.docker.network.driver.mtu"
)

// Network is a user-defined bridge network.
type Network struct {
	ID         string
	Name       string
	Created    time.Time
	Subnet     netip.Prefix
	Gateway    netip.Addr
	IPRange    netip.Prefix // zero when the whole subnet is handed out
	Internal   bool
	Attachable bool
	// UserSubnet is true when the subnet was given at create: only then
	// may containers ask for a static address, as in dockerd.
	UserSubnet bool
	Labels     map[string]string
	Options    map[string]string
	// Bridge is the Linux bridge's name: the bridge.name option, or
	// br- and the first 12 characters of the ID, as dockerd names it.
	Bridge string
	// Endpoints are the containers on the network, by container ID.
	Endpoints map[string]*Endpoint
}

// Endpoint is a container's interface on a network.
type Endpoint struct {
	ContainerID string
	Addr        netip.Addr
	// Static is true for an address the container asked for (--ip).
	Static  bool
	Aliases []string
	// Links are legacy links as ALIAS → container name (--link), which
	// the network's DNS answers for this container only.
	Links map[string]string `json:",omitempty"`
	// Ifname is the interface's name in the container (eth0, eth1, …).
	Ifname string
	// Seq orders a container's endpoints by when they were made, as
	// its DNS server lists their networks.
	Seq uint64
}

// Masquerade reports whether traffic from the network that leaves the
// node takes the node's address (the default).
func (n *Network) Masquerade() bool {
	return !n.Internal && n.Options[OptMasquerade] != "false"
}

// EndpointID is the ID of a container's endpoint on network id: stable,
// so that inspect shows the same one every time.
func EndpointID(networkID, containerID string) string {
	sum := sha256.Sum256([]byte(networkID + "/" + containerID))
	return hex.EncodeToString(sum[:])
}

// MAC derives an endpoint's MAC from its address as dockerd does:
// 02:42 and the four bytes of the address.
func MAC(a netip.Addr) network.HardwareAddr {
	b := a.As4()
	return network.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// Clone returns a deep copy of n, so that a caller may change it and
// store it without touching what others read.
func (n *Network) Clone() *Network {
	c := *n
	c.Labels = maps.Clone(n.Labels)
	c.Options = maps.Clone(n.Options)
	c.Endpoints = make(map[string]*Endpoint, len(n.Endpoints))
	for id, ep := range n.Endpoints {
		e := *ep
		e.Aliases = slices.Clone(ep.Aliases)
		e.Links = maps.Clone(ep.Links)
		c.Endpoints[id] = &e
	}
	return &c
}

// Inspect is n as GET /networks/{id} shows it; containers names the
// containers on it (by ID, to their name) that are shown in Containers.
func (n *Network) Inspect(containers map[string]string) network.Inspect {
	ipam := network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway}
	if n.IPRange.IsValid() {
		ipam.IPRange = n.IPRange
	}
	labels := maps.Clone(n.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	opts := maps.Clone(n.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	out := network.Inspect{
		Network: network.Network{
			Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: "bridge",
			EnableIPv4: true, Internal: n.Internal, Attachable: n.Attachable,
			IPAM:    network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{ipam}},
			Options: opts, Labels: labels,
			ConfigFrom: network.ConfigReference{},
		},
		Containers: map[string]network.EndpointResource{},
	}
	for id, ep := range n.Endpoints {
		name, ok := containers[id]
		if !ok {
			continue
		}
		out.Containers[id] = network.EndpointResource{
			Name: name, EndpointID: EndpointID(n.ID, id), MacAddress: MAC(ep.Addr),
			IPv4Address: netip.PrefixFrom(ep.Addr, n.Subnet.Bits()),
		}
	}
	return out
}

// EndpointSettings is ep as a container's inspect shows it under
// NetworkSettings.Networks.
func (n *Network) EndpointSettings(ep *Endpoint) *network.EndpointSettings {
	s := &network.EndpointSettings{
		NetworkID:   n.ID,
		EndpointID:  EndpointID(n.ID, ep.ContainerID),
		IPAddress:   ep.Addr,
		IPPrefixLen: n.Subnet.Bits(),
		MacAddress:  MAC(ep.Addr),
		Aliases:     slices.Clone(ep.Aliases),
		DNSNames:    nil,
		// An internal network's too: its gateway is the container's
		// default route when nothing else is (DefaultRoute), and
		// dockerd shows it.
		Gateway: n.Gateway,
	}
	if ep.Static {
		s.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.Addr}
	}
	for alias, target := range ep.Links {
		s.Links = append(s.Links, target+":"+alias)
	}
	slices.Sort(s.Links)
	return s
}
