// Package view is what a node must know of the cluster's networks to run
// their data plane and answer DNS for its tasks: the networks its tasks
// are on (and the ingress network, on every node), with their peers,
// services and endpoints. Managers compute it from the store; the
// dispatcher sends each node its own; the node's dataplane, load balancer
// and resolver all read the same types.
package view

import (
	"net"
	"net/netip"

	"github.com/moby/moby/api/types/swarm"
)

// Node is one node's view of the networks.
type Node struct {
	NodeID string
	// DataPathPort is the VXLAN UDP port of the swarm (4789 by default).
	DataPathPort uint16
	// Tunnel is this node's own WireGuard identity for encrypted networks;
	// nil until the allocator gave the node a tunnel address.
	Tunnel *Tunnel `json:",omitempty"`
	// Networks are sorted by ID.
	Networks []Network
	// HostPorts are the ports this node's tasks publish in host mode, by
	// task ID; those with no published port get one from the node.
	HostPorts map[string][]swarm.PortConfig `json:",omitempty"`
}

// Network is one overlay network as a node sees it.
type Network struct {
	ID      string
	Name    string
	VNI     uint32
	Subnet  netip.Prefix
	Gateway netip.Addr
	// Internal networks have no egress; Ingress is the routing mesh's
	// network; Encrypted networks carry their VXLAN through the tunnel.
	Internal, Attachable, Ingress, Encrypted bool
	// NodeAddr is this node's own address on the network (its routing
	// mesh address on the ingress network); invalid when it has none.
	NodeAddr netip.Prefix `json:",omitempty"`
	// Peers are the other nodes with endpoints on the network (every
	// other node, on the ingress network), sorted by NodeID.
	Peers []Peer `json:",omitempty"`
	// Services are the services attached to the network, sorted by ID.
	Services []Service `json:",omitempty"`
	// Endpoints are every endpoint on the network, on any node: tasks
	// placed on a node that have not ended. Sorted by Addr.
	Endpoints []Endpoint `json:",omitempty"`
}

// Peer is another node a network's traffic may go to.
type Peer struct {
	NodeID string
	// Addr is the node's data path (underlay) address.
	Addr netip.Addr
	// NodeAddr is the peer's own address on the network, if it has one.
	NodeAddr netip.Addr `json:",omitempty"`
	// Tunnel is the peer's WireGuard identity, for encrypted networks.
	Tunnel *Tunnel `json:",omitempty"`
}

// Tunnel is a node's identity on the encrypted overlays' WireGuard mesh.
type Tunnel struct {
	PublicKey string     // base64, as wg(8) shows keys
	Addr      netip.Addr // the node's address inside the tunnel
}

// Service is a service attached to a network.
type Service struct {
	ID   string
	Name string
	// Aliases are the names the service's attachment to this network
	// adds (TaskTemplate.Networks[].Aliases).
	Aliases []string `json:",omitempty"`
	// Mode is vip or dnsrr.
	Mode swarm.ResolutionMode
	// VIP is the service's virtual IP on this network; invalid in dnsrr
	// mode.
	VIP netip.Addr `json:",omitempty"`
	// Ports are the service's ports published in ingress mode (on the
	// ingress network only).
	Ports []swarm.PortConfig `json:",omitempty"`
	// LocalOnly routes published ports only to tasks on the receiving
	// node, so that the client's address is always kept (the service
	// label com.shoal.ingress.local=true).
	LocalOnly bool `json:",omitempty"`
}

// Endpoint is one task's interface on a network.
type Endpoint struct {
	TaskID string
	// Name is the task's container name (SERVICE.SLOT.TASKID, or
	// SERVICE.NODEID.TASKID for global services), which DNS resolves.
	Name      string
	ServiceID string
	NodeID    string
	Addr      netip.Prefix
	// Aliases are further names of this endpoint alone.
	Aliases []string `json:",omitempty"`
	// Running endpoints are backends: VIPs, the mesh and DNS answer
	// with them. Others (starting) are only reachable by address.
	Running bool `json:",omitempty"`
}

// MAC is the hardware address of the interface holding addr: 02:42
// followed by the IPv4 address, as Docker derives it, so that an address
// given again never leaves a wrong MAC in a neighbour's cache.
func MAC(addr netip.Addr) net.HardwareAddr {
	a := addr.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// Network returns the network with the ID, or nil.
func (n *Node) Network(id string) *Network {
	for i := range n.Networks {
		if n.Networks[i].ID == id {
			return &n.Networks[i]
		}
	}
	return nil
}
