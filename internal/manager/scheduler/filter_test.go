package scheduler

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

func TestFilters(t *testing.T) {
	svc := ct.Service("svc", "web", 1)
	withSpec := func(mod func(*swarm.TaskSpec)) *request {
		spec := swarm.TaskSpec{}
		mod(&spec)
		return newRequest(svc, spec)
	}
	node := func(mods ...func(*store.Node)) *nodeInfo { return newNodeInfo(ct.Node("n1", mods...)) }
	ssd := func(n *store.Node) { n.Spec.Labels["disk"] = "ssd" }
	tests := []struct {
		name    string
		filter  filter
		request *request
		node    *nodeInfo
		want    bool
	}{
		{"ready active node", readyFilter{}, withSpec(func(*swarm.TaskSpec) {}), node(), true},
		{"down node", readyFilter{}, withSpec(func(*swarm.TaskSpec) {}), node(func(n *store.Node) { n.Status.State = swarm.NodeStateDown }), false},
		{"paused node", readyFilter{}, withSpec(func(*swarm.TaskSpec) {}), node(func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityPause }), false},
		{"drained node", readyFilter{}, withSpec(func(*swarm.TaskSpec) {}), node(func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityDrain }), false},
		{"cpu fits", resourceFilter{}, reserve(4e9, 0), node(), true},
		{"cpu does not fit", resourceFilter{}, reserve(5e9, 0), node(), false},
		{"memory does not fit", resourceFilter{}, reserve(0, 9<<30), node(), false},
		{"generic resource fits", resourceFilter{}, reserveGeneric("gpu", 2), node(gpus("a", "b")), true},
		{"generic resource short", resourceFilter{}, reserveGeneric("gpu", 3), node(gpus("a", "b")), false},
		{"discrete generic resource fits", resourceFilter{}, reserveGeneric("ssd", 3), node(discrete("ssd", 3)), true},
		{"node label matches", constraintFilter{}, constrain("node.labels.disk==ssd"), node(ssd), true},
		{"node label differs", constraintFilter{}, constrain("node.labels.disk==ssd"), node(), false},
		{"not-equal on a missing label", constraintFilter{}, constrain("node.labels.disk!=ssd"), node(), true},
		{"role and hostname", constraintFilter{}, constrain("node.role==worker", "node.hostname!=n2"), node(), true},
		{"node id", constraintFilter{}, constrain("node.id==n2"), node(), false},
		{"values ignore case", constraintFilter{}, constrain("node.platform.os==Linux", "node.platform.arch==AMD64"), node(), true},
		{"engine label", constraintFilter{}, constrain("engine.labels.zone==a"), node(func(n *store.Node) { n.Description.Engine.Labels = map[string]string{"zone": "a"} }), true},
		{"node ip in a prefix", constraintFilter{}, constrain("node.ip==127.0.0.0/8"), node(), true},
		{"unknown key matches nothing", constraintFilter{}, constrain("node.colour==red"), node(), false},
		{"platform listed", platformFilter{}, platforms("linux/x86_64", "windows/amd64"), node(), true},
		{"platform missing", platformFilter{}, platforms("linux/arm64"), node(), false},
		{"port free", hostPortFilter{}, publish(8080), node(), true},
		{"port taken", hostPortFilter{}, publish(8080), withPort(node(), 8080), false},
		{"below max replicas", maxReplicasFilter{}, maxReplicas(2), withTasks(node(), "svc", 1), true},
		{"at max replicas", maxReplicasFilter{}, maxReplicas(2), withTasks(node(), "svc", 2), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.filter.enabled(tt.request) {
				t.Fatalf("filter %T not enabled for the request", tt.filter)
			}
			if got := tt.filter.check(tt.request, tt.node); got != tt.want {
				t.Errorf("got check %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterExplanations(t *testing.T) {
	tests := []struct {
		filter     filter
		one, three string
	}{
		{readyFilter{}, "1 node not available for new tasks", "3 nodes not available for new tasks"},
		{resourceFilter{}, "insufficient resources on 1 node", "insufficient resources on 3 nodes"},
		{constraintFilter{}, "scheduling constraints not satisfied on 1 node", "scheduling constraints not satisfied on 3 nodes"},
		{platformFilter{}, "unsupported platform on 1 node", "unsupported platform on 3 nodes"},
		{hostPortFilter{}, "host-mode port already in use on 1 node", "host-mode port already in use on 3 nodes"},
		{maxReplicasFilter{}, "max replicas per node limit exceed", "max replicas per node limit exceed"},
	}
	for _, tt := range tests {
		if got := tt.filter.explain(1); got != tt.one {
			t.Errorf("%T explain(1): got %q, want %q", tt.filter, got, tt.one)
		}
		if got := tt.filter.explain(3); got != tt.three {
			t.Errorf("%T explain(3): got %q, want %q", tt.filter, got, tt.three)
		}
	}
}

func TestFiltersOffWhenNotAsked(t *testing.T) {
	r := newRequest(ct.Service("svc", "web", 1), swarm.TaskSpec{})
	for _, f := range chain[1:] {
		if f.enabled(r) {
			t.Errorf("%T enabled for a task that asks for nothing", f)
		}
	}
}

func TestParseConstraintsErrors(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{"node.role", "constraint expected one operator from ==, !="},
		{"node.role=manager", "constraint expected one operator from ==, !="},
		{"no de==x", "key 'no de' is invalid"},
		{"node.role==<b>", "value '<b>' is invalid"},
	}
	for _, tt := range tests {
		_, err := ParseConstraints([]string{tt.expr})
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseConstraints(%q): got %v, want %q", tt.expr, err, tt.want)
		}
	}
	if _, err := ParseConstraints([]string{"node.labels.zone == a", "node.role!=manager"}); err != nil {
		t.Errorf("valid constraints: got %v", err)
	}
}

func reserve(cpu, memory int64) *request {
	return newRequest(ct.Service("svc", "web", 1), swarm.TaskSpec{Resources: &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: cpu, MemoryBytes: memory}}})
}

func reserveGeneric(kind string, n int64) *request {
	return newRequest(ct.Service("svc", "web", 1), swarm.TaskSpec{Resources: &swarm.ResourceRequirements{Reservations: &swarm.Resources{
		GenericResources: []swarm.GenericResource{{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: kind, Value: n}}},
	}}})
}

func gpus(names ...string) func(*store.Node) {
	return func(n *store.Node) {
		for _, v := range names {
			n.Description.Resources.GenericResources = append(n.Description.Resources.GenericResources,
				swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: v}})
		}
	}
}

func discrete(kind string, count int64) func(*store.Node) {
	return func(n *store.Node) {
		n.Description.Resources.GenericResources = append(n.Description.Resources.GenericResources,
			swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: kind, Value: count}})
	}
}

func constrain(exprs ...string) *request {
	return newRequest(ct.Service("svc", "web", 1), swarm.TaskSpec{Placement: &swarm.Placement{Constraints: exprs}})
}

func platforms(ps ...string) *request {
	var list []swarm.Platform
	for _, p := range ps {
		for i := range p {
			if p[i] == '/' {
				list = append(list, swarm.Platform{OS: p[:i], Architecture: p[i+1:]})
			}
		}
	}
	return newRequest(ct.Service("svc", "web", 1), swarm.TaskSpec{Placement: &swarm.Placement{Platforms: list}})
}

func publish(port uint32) *request {
	svc := ct.Service("svc", "web", 1, func(s *store.Service) {
		s.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: port, PublishMode: swarm.PortConfigPublishModeHost}}}
	})
	return newRequest(svc, swarm.TaskSpec{})
}

func withPort(n *nodeInfo, port uint32) *nodeInfo {
	n.ports[hostPort{protocol: "tcp", port: port}] = true
	return n
}

func maxReplicas(n uint64) *request {
	return newRequest(ct.Service("svc", "web", 1), swarm.TaskSpec{Placement: &swarm.Placement{MaxReplicas: n}})
}

func withTasks(n *nodeInfo, service string, count int) *nodeInfo {
	n.byService[service] += count
	n.tasks += count
	return n
}
