package dataplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"

	"github.com/moby/moby/api/types/swarm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/internal/network/lb"
	"github.com/shoal-project/shoal/internal/network/overlay"
	"github.com/shoal-project/shoal/internal/network/view"
)

// Host-mode ports published as 0 get one of these on the node, as
// Docker gives them.
const (
	hostPortStart = 30000
	hostPortEnd   = 32767
)

// VIPs returns the virtual IPs a container on the networks (IDs) must
// balance: each service with a VIP on one of them, over its running
// tasks' addresses there. The ingress network is the mesh's, not the
// containers'.
func VIPs(v *view.Node, networks []string) []lb.VIP {
	var out []lb.VIP
	for _, id := range networks {
		n := v.Network(id)
		if n == nil || n.Ingress {
			continue
		}
		for _, s := range n.Services {
			if !s.VIP.IsValid() {
				continue
			}
			out = append(out, lb.VIP{Addr: s.VIP, Backends: running(n, s.ID)})
		}
	}
	slices.SortFunc(out, func(a, b lb.VIP) int { return a.Addr.Compare(b.Addr) })
	return out
}

// running returns the addresses of a service's running endpoints on n.
func running(n *view.Network, serviceID string) []netip.Addr {
	var out []netip.Addr
	for _, ep := range n.Endpoints {
		if ep.ServiceID == serviceID && ep.Running {
			out = append(out, ep.Addr.Addr())
		}
	}
	return out
}

// Mesh returns the node's routing mesh and host-mode ports. A local
// backend is reached at its address on the node bridge (bridgeAddr, by
// task ID; left out while unknown), a remote one at its ingress address.
func Mesh(v *view.Node, bridgeAddr func(taskID string) (netip.Addr, bool), hostPorts map[string][]swarm.PortConfig, nodeBridge string) lb.Mesh {
	m := lb.Mesh{NodeBridge: nodeBridge}
	for _, n := range v.Networks {
		if !n.Ingress {
			continue
		}
		m.IngressBridge = overlay.BridgeName(n.ID)
		m.NodeAddr = n.NodeAddr.Addr()
		for _, s := range n.Services {
			var backends []lb.Backend
			for _, ep := range n.Endpoints {
				if ep.ServiceID != s.ID || !ep.Running {
					continue
				}
				if ep.NodeID != v.NodeID {
					backends = append(backends, lb.Backend{Addr: ep.Addr.Addr()})
					continue
				}
				if a, ok := bridgeAddr(ep.TaskID); ok {
					backends = append(backends, lb.Backend{Addr: a, Local: true})
				}
			}
			for _, p := range s.Ports {
				if p.PublishedPort == 0 || p.TargetPort == 0 {
					continue
				}
				m.Ports = append(m.Ports, lb.PublishedPort{
					Protocol: string(p.Protocol), Port: uint16(p.PublishedPort), TargetPort: uint16(p.TargetPort),
					Backends: backends, LocalOnly: s.LocalOnly,
				})
			}
		}
	}
	for taskID, ports := range hostPorts {
		a, ok := bridgeAddr(taskID)
		if !ok {
			continue
		}
		for _, p := range ports {
			m.HostPorts = append(m.HostPorts, lb.HostPort{Protocol: string(p.Protocol), Port: uint16(p.PublishedPort), Target: netip.AddrPortFrom(a, uint16(p.TargetPort))})
		}
	}
	slices.SortFunc(m.Ports, func(a, b lb.PublishedPort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
	})
	slices.SortFunc(m.HostPorts, func(a, b lb.HostPort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
	})
	return m
}

// PortStatus returns the ports a task publishes in host mode as its node
// has them, for its status: those asked as 0 with the port the node gave.
func (d *Dataplane) PortStatus(taskID string) []swarm.PortConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.hostPorts[taskID])
}

// assignHostPorts gives the host-mode ports of this node's tasks that ask
// for none a free port of the dynamic range, keeping what each was given.
func (d *Dataplane) assignHostPorts(v *view.Node) {
	used := map[string]bool{}
	key := func(p swarm.PortConfig) string { return fmt.Sprint(p.Protocol, "/", p.PublishedPort) }
	for taskID, ports := range d.hostPorts {
		if _, ok := v.HostPorts[taskID]; !ok {
			delete(d.hostPorts, taskID)
			continue
		}
		for _, p := range ports {
			used[key(p)] = true
		}
	}
	for taskID, ports := range v.HostPorts {
		if _, ok := d.hostPorts[taskID]; ok {
			continue
		}
		out := slices.Clone(ports)
		for i := range out {
			if out[i].PublishedPort != 0 {
				continue
			}
			for port := uint32(hostPortStart); port <= hostPortEnd; port++ {
				cand := out[i]
				cand.PublishedPort = port
				if !used[key(cand)] {
					out[i] = cand
					used[key(cand)] = true
					break
				}
			}
		}
		d.hostPorts[taskID] = out
	}
}

// balance applies each attached container's VIPs and the node's mesh,
// each only when it changed.
func (d *Dataplane) balance(ctx context.Context, v *view.Node) []error {
	var errs []error
	for id, a := range d.attached {
		if err := d.balanceContainer(ctx, id, a, v); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.applyMesh(ctx, v); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// applyMesh applies the node's routing mesh and host-mode ports when they
// changed.
func (d *Dataplane) applyMesh(ctx context.Context, v *view.Node) error {
	m := lb.Mesh{NodeBridge: d.cfg.NodeBridge}
	if v != nil {
		d.assignHostPorts(v)
		local := LocalTasks(v)
		for taskID := range d.bridgeAddrs {
			if _, ok := local[taskID]; !ok && d.hostPorts[taskID] == nil {
				delete(d.bridgeAddrs, taskID)
			}
		}
		m = Mesh(v, d.bridgeAddr, d.hostPorts, d.cfg.NodeBridge)
	}
	m.HostPorts = d.withContainerPorts(m)
	if reflect.DeepEqual(m, d.mesh) {
		return nil
	}
	var err error
	if m.IngressBridge == "" && len(m.HostPorts) == 0 {
		err = lb.RemoveMesh(ctx, "", d.mesh)
	} else {
		err = lb.ApplyMesh(ctx, "", m)
	}
	if err != nil {
		return fmt.Errorf("routing mesh: %w", err)
	}
	d.mesh = m
	return nil
}

func (d *Dataplane) balanceContainer(ctx context.Context, containerID string, a *attachment, v *view.Node) error {
	vips := VIPs(v, a.networks)
	if a.vipsApplied && reflect.DeepEqual(vips, a.vips) {
		return nil
	}
	if err := lb.ApplyVIPs(ctx, a.nsPath, vips); err != nil {
		return fmt.Errorf("VIPs of %s: %w", containerID, err)
	}
	a.vips, a.vipsApplied = vips, true
	return nil
}

// bridgeAddr returns a local task's address on the node bridge (its
// eth0), read from its namespace once and kept.
func (d *Dataplane) bridgeAddr(taskID string) (netip.Addr, bool) {
	if a, ok := d.bridgeAddrs[taskID]; ok {
		return a, true
	}
	a, err := eth0Addr(d.cfg.NetnsPath(d.cfg.ContainerID(taskID)))
	if err != nil {
		return netip.Addr{}, false
	}
	d.bridgeAddrs[taskID] = a
	return a, true
}

// eth0Addr reads the IPv4 address of eth0 in the namespace at nsPath.
func eth0Addr(nsPath string) (netip.Addr, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return netip.Addr{}, err
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return netip.Addr{}, err
	}
	defer nh.Close()
	link, err := nh.LinkByName("eth0")
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := nh.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			return ip, nil
		}
	}
	return netip.Addr{}, errors.New("eth0 has no IPv4 address")
}
