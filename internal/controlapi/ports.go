package controlapi

import (
	"slices"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// Published ports are swarm-wide: an ingress port is taken on every node,
// so no two services may publish the same one, and a host-mode port may
// not reuse another service's ingress port (several host-mode services
// may share a port; the scheduler keeps them on different nodes).
// Ingress ports asked for as 0 get the lowest free port of Docker's
// dynamic range.
const (
	dynamicPortStart = 30000
	dynamicPortEnd   = 32767
)

type portKey struct {
	port  uint32
	proto string
}

// portUse is what another service publishes.
type portUse struct {
	ingress map[portKey]*store.Service
	host    map[portKey]*store.Service
}

func portsInUse(services []*store.Service, selfID string) portUse {
	u := portUse{ingress: map[portKey]*store.Service{}, host: map[portKey]*store.Service{}}
	for _, s := range services {
		if s.ID == selfID {
			continue
		}
		var all []swarm.PortConfig
		if s.Spec.EndpointSpec != nil {
			all = append(all, s.Spec.EndpointSpec.Ports...)
		}
		all = append(all, s.Endpoint.Ports...)
		for _, p := range all {
			if p.PublishedPort == 0 {
				continue
			}
			k := portKey{p.PublishedPort, string(p.Protocol)}
			if p.PublishMode == swarm.PortConfigPublishModeHost {
				u.host[k] = s
			} else {
				u.ingress[k] = s
			}
		}
	}
	return u
}

// publishPorts returns Endpoint.Ports for a service whose normalized spec
// asks for ports, given what other services publish. prev is the
// service's current Endpoint.Ports: a dynamic port it already holds is
// kept across updates.
func publishPorts(ports []swarm.PortConfig, prev []swarm.PortConfig, used portUse) ([]swarm.PortConfig, error) {
	for _, p := range ports {
		if p.PublishedPort == 0 {
			continue
		}
		k := portKey{p.PublishedPort, string(p.Protocol)}
		if s := used.ingress[k]; s != nil {
			return nil, invalidArgument("port '%d' is already in use by service '%s' (%s) as an ingress port", p.PublishedPort, s.Spec.Name, s.ID)
		}
		if s := used.host[k]; s != nil && p.PublishMode == swarm.PortConfigPublishModeIngress {
			return nil, invalidArgument("port '%d' is already in use by service '%s' (%s) as a host-published port", p.PublishedPort, s.Spec.Name, s.ID)
		}
	}
	taken := func(k portKey) bool {
		if used.ingress[k] != nil || used.host[k] != nil {
			return true
		}
		return slices.ContainsFunc(ports, func(p swarm.PortConfig) bool {
			return p.PublishedPort == k.port && string(p.Protocol) == k.proto
		})
	}
	out := make([]swarm.PortConfig, 0, len(ports))
	assigned := map[portKey]bool{}
	for _, p := range ports {
		if p.PublishedPort == 0 && p.PublishMode == swarm.PortConfigPublishModeIngress {
			port, ok := keptDynamicPort(p, prev, func(k portKey) bool { return taken(k) || assigned[k] })
			if !ok {
				port, ok = freeDynamicPort(string(p.Protocol), func(k portKey) bool { return taken(k) || assigned[k] })
			}
			if !ok {
				return nil, invalidArgument("EndpointSpec: no free port in the dynamic range %d-%d for target port %d/%s", dynamicPortStart, dynamicPortEnd, p.TargetPort, p.Protocol)
			}
			p.PublishedPort = port
			assigned[portKey{port, string(p.Protocol)}] = true
		}
		out = append(out, p)
	}
	return out, nil
}

func keptDynamicPort(p swarm.PortConfig, prev []swarm.PortConfig, taken func(portKey) bool) (uint32, bool) {
	for _, q := range prev {
		if q.TargetPort == p.TargetPort && q.Protocol == p.Protocol && q.PublishMode == p.PublishMode &&
			q.PublishedPort >= dynamicPortStart && q.PublishedPort <= dynamicPortEnd &&
			!taken(portKey{q.PublishedPort, string(q.Protocol)}) {
			return q.PublishedPort, true
		}
	}
	return 0, false
}

func freeDynamicPort(proto string, taken func(portKey) bool) (uint32, bool) {
	for port := uint32(dynamicPortStart); port <= dynamicPortEnd; port++ {
		if !taken(portKey{port, proto}) {
			return port, true
		}
	}
	return 0, false
}
