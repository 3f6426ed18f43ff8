package scheduler

import (
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/swarm"
)

// A filter is one test a node must pass to take a task. Filters run in
// the order of the chain, cheap ones first; the first that fails is the
// reason given for that node.
type filter interface {
	// enabled reports whether the filter applies to the request at all.
	enabled(r *request) bool
	// check reports whether node n can take a task of r.
	check(r *request, n *nodeInfo) bool
	// explain says why count nodes were refused, for "no suitable node
	// (…)".
	explain(count int) string
	// static reports whether the result depends only on the node and the
	// request, not on what this pass placed: static filters run once per
	// group of tasks.
	static() bool
}

// chain is the filters in the order they run.
var chain = []filter{readyFilter{}, resourceFilter{}, constraintFilter{}, platformFilter{}, hostPortFilter{}, maxReplicasFilter{}}

func plural(count int, what string) string {
	if count == 1 {
		return fmt.Sprintf(what, "1 node")
	}
	return fmt.Sprintf(what, fmt.Sprintf("%d nodes", count))
}

// readyFilter passes nodes that are up and take new tasks.
type readyFilter struct{}

func (readyFilter) enabled(*request) bool { return true }
func (readyFilter) static() bool          { return true }
func (readyFilter) check(_ *request, n *nodeInfo) bool {
	return n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive
}
func (readyFilter) explain(c int) string { return plural(c, "%s not available for new tasks") }

// resourceFilter passes nodes with the reserved CPU, memory and generic
// resources still free.
type resourceFilter struct{}

func (resourceFilter) enabled(r *request) bool {
	return r.cpu > 0 || r.memory > 0 || len(r.generic) > 0
}
func (resourceFilter) static() bool { return false }
func (resourceFilter) check(r *request, n *nodeInfo) bool {
	if r.cpu > n.cpu || r.memory > n.memory {
		return false
	}
	for _, g := range r.generic {
		if n.freeGeneric(g.kind) < g.count {
			return false
		}
	}
	return true
}
func (resourceFilter) explain(c int) string { return plural(c, "insufficient resources on %s") }

// constraintFilter passes nodes that match the placement constraints.
type constraintFilter struct{}

func (constraintFilter) enabled(r *request) bool { return len(r.constraints) > 0 || r.badConstraints }
func (constraintFilter) static() bool            { return true }
func (constraintFilter) check(r *request, n *nodeInfo) bool {
	return !r.badConstraints && MatchAll(r.constraints, &n.Node.Node)
}
func (constraintFilter) explain(c int) string {
	return plural(c, "scheduling constraints not satisfied on %s")
}

// platformFilter passes nodes whose OS and architecture the image has.
type platformFilter struct{}

func (platformFilter) enabled(r *request) bool { return len(r.platforms) > 0 }
func (platformFilter) static() bool            { return true }
func (platformFilter) check(r *request, n *nodeInfo) bool {
	np := n.Description.Platform
	for _, p := range r.platforms {
		if (p.Architecture == "" || normalArch(p.Architecture) == normalArch(np.Architecture)) &&
			(p.OS == "" || strings.EqualFold(p.OS, np.OS)) {
			return true
		}
	}
	return false
}
func (platformFilter) explain(c int) string { return plural(c, "unsupported platform on %s") }

func normalArch(a string) string {
	switch a = strings.ToLower(a); a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// hostPortFilter passes nodes where the ports the task publishes in host
// mode are free.
type hostPortFilter struct{}

func (hostPortFilter) enabled(r *request) bool { return len(r.ports) > 0 }
func (hostPortFilter) static() bool            { return false }
func (hostPortFilter) check(r *request, n *nodeInfo) bool {
	for _, p := range r.ports {
		if n.ports[p] {
			return false
		}
	}
	return true
}
func (hostPortFilter) explain(c int) string {
	return plural(c, "host-mode port already in use on %s")
}

// maxReplicasFilter passes nodes holding fewer than MaxReplicas tasks of
// the service.
type maxReplicasFilter struct{}

func (maxReplicasFilter) enabled(r *request) bool { return r.maxReplicas > 0 }
func (maxReplicasFilter) static() bool            { return false }
func (maxReplicasFilter) check(r *request, n *nodeInfo) bool {
	return uint64(n.byService[r.serviceID]) < r.maxReplicas
}
func (maxReplicasFilter) explain(int) string { return "max replicas per node limit exceed" }
