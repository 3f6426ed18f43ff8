package scheduler

import (
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// request is what the tasks of one group (one service at one spec
// version) need from a node, worked out once for the group.
type request struct {
	serviceID      string
	cpu, memory    int64
	generic        []genericNeed
	constraints    []Constraint
	badConstraints bool // constraints that do not parse match no node
	platforms      []swarm.Platform
	ports          []hostPort
	maxReplicas    uint64
	spread         []string // spread descriptors, outermost first
}

type genericNeed struct {
	kind  string
	count int64
}

type hostPort struct {
	protocol string
	port     uint32
}

func newRequest(svc *store.Service, spec swarm.TaskSpec) *request {
	r := &request{serviceID: svc.ID, ports: hostPorts(svc.Spec.EndpointSpec)}
	if res := spec.Resources; res != nil && res.Reservations != nil {
		r.cpu, r.memory = res.Reservations.NanoCPUs, res.Reservations.MemoryBytes
		need := map[string]int64{}
		var kinds []string
		for _, g := range res.Reservations.GenericResources {
			kind, n := "", int64(0)
			switch {
			case g.DiscreteResourceSpec != nil:
				kind, n = g.DiscreteResourceSpec.Kind, g.DiscreteResourceSpec.Value
			case g.NamedResourceSpec != nil:
				kind, n = g.NamedResourceSpec.Kind, 1
			}
			if n <= 0 {
				continue
			}
			if _, ok := need[kind]; !ok {
				kinds = append(kinds, kind)
			}
			need[kind] += n
		}
		for _, k := range kinds {
			r.generic = append(r.generic, genericNeed{kind: k, count: need[k]})
		}
	}
	if p := spec.Placement; p != nil {
		if cs, err := ParseConstraints(p.Constraints); err != nil {
			r.badConstraints = true
		} else {
			r.constraints = cs
		}
		r.platforms = p.Platforms
		r.maxReplicas = p.MaxReplicas
		for _, pref := range p.Preferences {
			if pref.Spread != nil {
				r.spread = append(r.spread, pref.Spread.SpreadDescriptor)
			}
		}
	}
	return r
}

// staticKey identifies the requests that the static filters treat alike,
// so that their candidate nodes are found once per pass.
func (r *request) staticKey() string {
	var b strings.Builder
	if r.badConstraints {
		b.WriteString("!bad")
	}
	for _, c := range r.constraints {
		b.WriteString(c.Key)
		if c.Equal {
			b.WriteString("==")
		} else {
			b.WriteString("!=")
		}
		b.WriteString(c.Value)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	for _, p := range r.platforms {
		b.WriteString(p.OS + "/" + p.Architecture)
		b.WriteByte(0)
	}
	return b.String()
}

// hostPorts returns the ports a service publishes in host mode.
func hostPorts(e *swarm.EndpointSpec) []hostPort {
	if e == nil {
		return nil
	}
	var out []hostPort
	for _, p := range e.Ports {
		if p.PublishMode == swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
			out = append(out, hostPort{protocol: protocol(string(p.Protocol)), port: p.PublishedPort})
		}
	}
	return out
}

func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// nodeInfo is a node with what is left of it in this pass.
type nodeInfo struct {
	*store.Node
	cpu, memory int64               // free
	named       map[string][]string // free named generic resources by kind, sorted
	discrete    map[string]int64    // free discrete generic resources by kind
	ports       map[hostPort]bool   // host ports in use
	tasks       int                 // tasks meant to run here
	byService   map[string]int      // the same, per service
	failed      map[string]bool     // services whose tasks failed here recently
}

func newNodeInfo(n *store.Node) *nodeInfo {
	res := n.Description.Resources
	ni := &nodeInfo{
		Node:      n,
		cpu:       res.NanoCPUs,
		memory:    res.MemoryBytes,
		ports:     map[hostPort]bool{},
		byService: map[string]int{},
	}
	for _, g := range res.GenericResources {
		switch {
		case g.NamedResourceSpec != nil:
			if ni.named == nil {
				ni.named = map[string][]string{}
			}
			k := g.NamedResourceSpec.Kind
			ni.named[k] = append(ni.named[k], g.NamedResourceSpec.Value)
		case g.DiscreteResourceSpec != nil:
			if ni.discrete == nil {
				ni.discrete = map[string]int64{}
			}
			ni.discrete[g.DiscreteResourceSpec.Kind] += g.DiscreteResourceSpec.Value
		}
	}
	for _, vs := range ni.named {
		slices.Sort(vs)
	}
	return ni
}

func (n *nodeInfo) freeGeneric(kind string) int64 {
	return int64(len(n.named[kind])) + n.discrete[kind]
}

// hold accounts for a task that occupies the node: its reservations and
// host ports are taken while its container may exist; it counts towards
// the spread while it is meant to run.
func (n *nodeInfo) hold(t *store.Task, ports []hostPort, live bool) {
	if res := t.Spec.Resources; res != nil && res.Reservations != nil {
		n.cpu -= res.Reservations.NanoCPUs
		n.memory -= res.Reservations.MemoryBytes
	}
	for _, g := range t.GenericResources {
		switch {
		case g.NamedResourceSpec != nil:
			vs := n.named[g.NamedResourceSpec.Kind]
			if i := slices.Index(vs, g.NamedResourceSpec.Value); i >= 0 {
				n.named[g.NamedResourceSpec.Kind] = slices.Delete(slices.Clone(vs), i, i+1)
			}
		case g.DiscreteResourceSpec != nil && n.discrete != nil:
			n.discrete[g.DiscreteResourceSpec.Kind] -= g.DiscreteResourceSpec.Value
		}
	}
	for _, p := range ports {
		n.ports[p] = true
	}
	if live {
		n.tasks++
		n.byService[t.ServiceID]++
	}
}

// take places a task of r on the node and returns the generic resources
// it is given: named ones first, by name, then discrete units.
func (n *nodeInfo) take(r *request) []swarm.GenericResource {
	n.cpu -= r.cpu
	n.memory -= r.memory
	for _, p := range r.ports {
		n.ports[p] = true
	}
	n.tasks++
	n.byService[r.serviceID]++
	var out []swarm.GenericResource
	for _, g := range r.generic {
		left := g.count
		if vs := n.named[g.kind]; len(vs) > 0 {
			k := int(min(int64(len(vs)), left))
			for _, v := range vs[:k] {
				out = append(out, swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: g.kind, Value: v}})
			}
			n.named[g.kind] = vs[k:]
			left -= int64(k)
		}
		if left > 0 {
			n.discrete[g.kind] -= left
			out = append(out, swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: g.kind, Value: left}})
		}
	}
	return out
}

// spreadValue is the node's value for a spread descriptor
// (node.labels.KEY or engine.labels.KEY); nodes without it share the
// empty value, which is a group of its own.
func (n *nodeInfo) spreadValue(descriptor string) string {
	lower := strings.ToLower(descriptor)
	switch {
	case strings.HasPrefix(lower, nodeLabelPrefix):
		return n.Spec.Labels[descriptor[len(nodeLabelPrefix):]]
	case strings.HasPrefix(lower, engineLabelPrefix):
		return n.Description.Engine.Labels[descriptor[len(engineLabelPrefix):]]
	}
	return ""
}
