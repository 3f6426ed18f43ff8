package dataplane

import (
	"cmp"
	"context"
	"maps"
	"net/netip"
	"slices"

	"github.com/shoal-project/shoal/internal/network/lb"
)

// This file publishes the ports of plain containers (docker run -p) in the
// node's mesh table, beside the swarm's published and host-mode ports, so
// that one table holds every port the node publishes and one check keeps
// them apart. The swarm's come first: a plain container's port that a
// service publishes later is left out (and logged), never the service's.

// PublishPorts publishes a plain container's host ports, replacing those
// it had. The caller has checked with PortTaken that they are free.
func (d *Dataplane) PublishPorts(ctx context.Context, containerID string, ports []lb.HostPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(ports) == 0 {
		delete(d.containerPorts, containerID)
	} else {
		d.containerPorts[containerID] = slices.Clone(ports)
	}
	return d.applyMesh(ctx, d.view)
}

// UnpublishPorts removes a plain container's host ports. Removing a
// container that published none is not an error.
func (d *Dataplane) UnpublishPorts(ctx context.Context, containerID string) error {
	return d.PublishPorts(ctx, containerID, nil)
}

// PortTaken reports whether the node publishes proto/port on hostIP (the
// zero Addr: every address) already, for the swarm or a plain container.
func (d *Dataplane) PortTaken(proto string, hostIP netip.Addr, port uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.mesh.Ports {
		if p.Protocol == proto && p.Port == port {
			return true
		}
	}
	for _, h := range d.mesh.HostPorts {
		if h.Protocol == proto && h.Port == port && (!h.HostIP.IsValid() || !hostIP.IsValid() || h.HostIP == hostIP) {
			return true
		}
	}
	return false
}

// withContainerPorts returns m's host ports with the plain containers'
// that do not collide with the swarm's, sorted as Mesh sorts them.
func (d *Dataplane) withContainerPorts(m lb.Mesh) []lb.HostPort {
	out := m.HostPorts
	swarm := func(h lb.HostPort) bool {
		for _, p := range m.Ports {
			if p.Protocol == h.Protocol && p.Port == h.Port {
				return true
			}
		}
		return slices.ContainsFunc(m.HostPorts, func(t lb.HostPort) bool { return t.Protocol == h.Protocol && t.Port == h.Port })
	}
	for _, id := range slices.Sorted(maps.Keys(d.containerPorts)) {
		for _, h := range d.containerPorts[id] {
			if swarm(h) {
				d.log.Warn("a plain container's port is published by the swarm now; the swarm's wins",
					"container.id", id, "port", h.Port, "protocol", h.Protocol)
				continue
			}
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b lb.HostPort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol), a.HostIP.Compare(b.HostIP))
	})
	return out
}
