package view

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// DefaultDataPathPort is the VXLAN port when the swarm names none.
const DefaultDataPathPort = 4789

// LocalOnlyLabel on a service routes its published ports only to tasks
// on the receiving node (Shoal's own, as Kubernetes'
// externalTrafficPolicy: Local).
const LocalOnlyLabel = "com.shoal.ingress.local"

// Input is the store state a view is built from.
type Input struct {
	Cluster  *store.Cluster
	Networks []*store.Network
	Services []*store.Service
	Tasks    []*store.Task
	Nodes    []*store.Node
}

// Read reads the input from a transaction.
func Read(tx store.ReadTx) Input {
	return Input{
		Cluster:  store.TheCluster(tx),
		Networks: store.All[*store.Network](tx),
		Services: store.All[*store.Service](tx),
		Tasks:    store.All[*store.Task](tx),
		Nodes:    store.All[*store.Node](tx),
	}
}

// Cluster is the whole swarm's view, built once per change; ForNode cuts
// each node's part from it. It is never changed once built.
type Cluster struct {
	dataPathPort uint16
	networks     []Network                  // the swarm's allocated networks, sorted by ID; Peers and NodeAddr unset
	ingressID    string                     // "" without an ingress network
	members      map[string]map[string]bool // network ID → nodes with an endpoint on it
	nodeAddrs    map[string]map[string]netip.Prefix
	peers        map[string]Peer                          // node ID → the node as a peer (Addr, Tunnel)
	hostPorts    map[string]map[string][]swarm.PortConfig // node ID → task ID → host-mode ports
}

// Build computes the view of the whole swarm.
func Build(in Input) *Cluster {
	c := &Cluster{
		dataPathPort: DefaultDataPathPort,
		members:      map[string]map[string]bool{},
		nodeAddrs:    map[string]map[string]netip.Prefix{},
		peers:        map[string]Peer{},
		hostPorts:    map[string]map[string][]swarm.PortConfig{},
	}
	if in.Cluster != nil && in.Cluster.ClusterInfo.DataPathPort != 0 {
		c.dataPathPort = uint16(in.Cluster.ClusterInfo.DataPathPort)
	}
	byID := map[string]int{}
	for _, n := range in.Networks {
		a, ok := swarmnet.Allocated(n)
		if !ok {
			continue
		}
		byID[n.ID] = len(c.networks)
		c.networks = append(c.networks, Network{
			ID: n.ID, Name: n.Spec.Name, VNI: a.VNI, Subnet: a.Subnet, Gateway: a.Gateway,
			Internal: n.Spec.Internal, Attachable: n.Spec.Attachable, Ingress: n.Spec.Ingress, Encrypted: swarmnet.Encrypted(n),
		})
		if n.Spec.Ingress {
			c.ingressID = n.ID
		}
	}
	for _, nd := range in.Nodes {
		if nd.Status.State == swarm.NodeStateDown {
			continue
		}
		p := Peer{NodeID: nd.ID, Addr: underlay(nd)}
		if nd.Tunnel != nil && nd.Tunnel.Addr.IsValid() {
			p.Tunnel = &Tunnel{PublicKey: nd.Tunnel.PublicKey, Addr: nd.Tunnel.Addr}
		}
		c.peers[nd.ID] = p
		for _, a := range nd.NetworkAttachments {
			if _, ok := byID[a.Network.ID]; ok && len(a.Addresses) > 0 {
				if c.nodeAddrs[a.Network.ID] == nil {
					c.nodeAddrs[a.Network.ID] = map[string]netip.Prefix{}
				}
				c.nodeAddrs[a.Network.ID][nd.ID] = a.Addresses[0]
			}
		}
	}
	services := map[string]*store.Service{}
	for _, svc := range in.Services {
		services[svc.ID] = svc
		c.addService(svc, in.Networks, byID)
	}
	for _, t := range in.Tasks {
		if t.NodeID == "" || taskstate.Terminal(t.Status.State) {
			continue
		}
		if ports := hostModePorts(t.Endpoint); len(ports) > 0 {
			if c.hostPorts[t.NodeID] == nil {
				c.hostPorts[t.NodeID] = map[string][]swarm.PortConfig{}
			}
			c.hostPorts[t.NodeID][t.ID] = ports
		}
		for _, a := range t.NetworksAttachments {
			i, ok := byID[a.Network.ID]
			if !ok || len(a.Addresses) == 0 {
				continue
			}
			n := &c.networks[i]
			n.Endpoints = append(n.Endpoints, Endpoint{
				TaskID:    t.ID,
				Name:      TaskName(t, services[t.ServiceID]),
				ServiceID: t.ServiceID,
				NodeID:    t.NodeID,
				Addr:      a.Addresses[0],
				Aliases:   attachmentAliases(t, n.ID),
				Running:   t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning,
			})
			if c.members[n.ID] == nil {
				c.members[n.ID] = map[string]bool{}
			}
			c.members[n.ID][t.NodeID] = true
		}
	}
	for i := range c.networks {
		n := &c.networks[i]
		slices.SortFunc(n.Endpoints, func(a, b Endpoint) int {
			return cmp.Or(a.Addr.Addr().Compare(b.Addr.Addr()), cmp.Compare(a.TaskID, b.TaskID))
		})
		slices.SortFunc(n.Services, func(a, b Service) int { return cmp.Compare(a.ID, b.ID) })
	}
	slices.SortFunc(c.networks, func(a, b Network) int { return cmp.Compare(a.ID, b.ID) })
	return c
}

// attachmentAliases are the --alias names of a plain container's
// attachment to a network; a service task's aliases are its service's.
func attachmentAliases(t *store.Task, networkID string) []string {
	if !swarmnet.IsAttachment(t) {
		return nil
	}
	var out []string
	for _, ref := range t.Spec.Networks {
		if ref.Target == networkID {
			out = append(out, ref.Aliases...)
		}
	}
	return out
}

// Concerns reports whether a change to t can change a view: it is on a
// network or publishes host-mode ports.
func Concerns(t *store.Task) bool {
	return len(t.NetworksAttachments) > 0 || len(hostModePorts(t.Endpoint)) > 0
}

// hostModePorts returns the ports an endpoint publishes in host mode.
func hostModePorts(ep *swarm.Endpoint) []swarm.PortConfig {
	if ep == nil {
		return nil
	}
	var out []swarm.PortConfig
	for _, p := range ep.Ports {
		if p.PublishMode == swarm.PortConfigPublishModeHost {
			out = append(out, p)
		}
	}
	return out
}

// addService adds svc to each network its tasks are attached to.
func (c *Cluster) addService(svc *store.Service, networks []*store.Network, byID map[string]int) {
	mode := swarm.ResolutionModeVIP
	if ep := svc.Spec.EndpointSpec; ep != nil && ep.Mode != "" {
		mode = ep.Mode
	}
	attached := map[string][]string{} // network ID → aliases
	var order []string
	if swarmnet.PublishesIngress(svc.Spec.EndpointSpec) && c.ingressID != "" {
		attached[c.ingressID] = nil
		order = append(order, c.ingressID)
	}
	for _, ref := range svc.Spec.TaskTemplate.Networks {
		n := swarmnet.Resolve(networks, ref.Target)
		if n == nil {
			continue
		}
		if _, seen := attached[n.ID]; !seen {
			order = append(order, n.ID)
		}
		attached[n.ID] = append(attached[n.ID], ref.Aliases...)
	}
	for _, id := range order {
		i, ok := byID[id]
		if !ok {
			continue
		}
		s := Service{ID: svc.ID, Name: svc.Spec.Name, Aliases: attached[id], Mode: mode}
		for _, v := range svc.Endpoint.VirtualIPs {
			if v.NetworkID == id && mode == swarm.ResolutionModeVIP {
				s.VIP = v.Addr.Addr()
			}
		}
		if id == c.ingressID {
			for _, p := range svc.Endpoint.Ports {
				if p.PublishMode == swarm.PortConfigPublishModeIngress || p.PublishMode == "" {
					s.Ports = append(s.Ports, p)
				}
			}
			s.LocalOnly = svc.Spec.Labels[LocalOnlyLabel] == "true"
		}
		c.networks[i].Services = append(c.networks[i].Services, s)
	}
}

// ForNode returns the view of node: the networks it has endpoints on, and
// the ingress network, with their peers and the node's own addresses.
func (c *Cluster) ForNode(nodeID string) *Node {
	v := &Node{NodeID: nodeID, DataPathPort: c.dataPathPort, HostPorts: c.hostPorts[nodeID]}
	if self, ok := c.peers[nodeID]; ok && self.Tunnel != nil {
		t := *self.Tunnel
		v.Tunnel = &t
	}
	for _, n := range c.networks {
		if n.ID != c.ingressID && !c.members[n.ID][nodeID] {
			continue
		}
		n.NodeAddr = c.nodeAddrs[n.ID][nodeID]
		n.Peers = c.peersOf(n, nodeID)
		v.Networks = append(v.Networks, n)
	}
	return v
}

// peersOf returns the other nodes a network's traffic from nodeID may go
// to: those with endpoints on it and, on the ingress network, every node
// with a mesh address.
func (c *Cluster) peersOf(n Network, nodeID string) []Peer {
	var out []Peer
	for id, p := range c.peers {
		if id == nodeID {
			continue
		}
		addr, hasAddr := c.nodeAddrs[n.ID][id]
		if !c.members[n.ID][id] && !(n.Ingress && hasAddr) {
			continue
		}
		if hasAddr {
			p.NodeAddr = addr.Addr()
		}
		if !n.Encrypted {
			p.Tunnel = nil
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}

// underlay is the address a node's overlay traffic is sent to.
func underlay(n *store.Node) netip.Addr {
	for _, s := range []string{n.DataPathAddr, n.Status.Addr} {
		if a, err := netip.ParseAddr(s); err == nil {
			return a
		}
	}
	return netip.Addr{}
}

// TaskName is the name of a task's container, which DNS resolves:
// SERVICE.SLOT.TASKID, or SERVICE.NODEID.TASKID for a global service's.
func TaskName(t *store.Task, svc *store.Service) string {
	if t.Annotations.Name != "" {
		return t.Annotations.Name
	}
	name := t.ServiceID
	if svc != nil {
		name = svc.Spec.Name
	}
	if t.Slot != 0 {
		return fmt.Sprintf("%s.%d.%s", name, t.Slot, t.ID)
	}
	return fmt.Sprintf("%s.%s.%s", name, t.NodeID, t.ID)
}
