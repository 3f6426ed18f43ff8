package scheduler_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/scheduler"
	"github.com/shoal-project/shoal/internal/store"
)

var now = ct.Epoch.Add(time.Hour)

// outcome writes a result as "task→node" for an assignment and
// "task: error" for a task left pending.
func outcome(r scheduler.Result) []string {
	var out []string
	for _, t := range r.Tasks {
		switch t.Status.State {
		case swarm.TaskStateAssigned:
			out = append(out, t.ID+"→"+t.NodeID)
		default:
			out = append(out, fmt.Sprintf("%s %s: %s", t.ID, t.Status.State, t.Status.Err))
		}
	}
	sort.Strings(out)
	return out
}

// perNode counts assignments per node.
func perNode(r scheduler.Result) map[string]int {
	m := map[string]int{}
	for _, t := range r.Tasks {
		if t.Status.State == swarm.TaskStateAssigned {
			m[t.NodeID]++
		}
	}
	return m
}

// allocated puts a task where the allocator leaves it for the scheduler.
var allocated = ct.State(swarm.TaskStatePending, ct.Epoch)

func pending(svc *store.Service, n int) []*store.Task {
	var out []*store.Task
	for i := 1; i <= n; i++ {
		out = append(out, ct.Task(fmt.Sprintf("t%d", i), svc, i, "", allocated))
	}
	return out
}

func zone(z string) func(*store.Node) { return func(n *store.Node) { n.Spec.Labels["zone"] = z } }

func withSpec(mod func(*swarm.TaskSpec)) func(*store.Service) {
	return func(s *store.Service) { mod(&s.Spec.TaskTemplate) }
}

func TestDecide(t *testing.T) {
	web := ct.Service("svc", "web", 3)
	drained := func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityDrain }
	bigReservation := withSpec(func(s *swarm.TaskSpec) {
		s.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: 3e9}}
	})
	tests := []struct {
		name     string
		nodes    []*store.Node
		services []*store.Service
		tasks    []*store.Task
		pending  int // more pending tasks, made from services[0]
		want     []string
	}{
		{
			name:     "no nodes",
			services: []*store.Service{web},
			tasks:    pending(web, 1),
			want:     []string{"t1 pending: no suitable node"},
		},
		{
			name:     "drained node",
			nodes:    []*store.Node{ct.Node("n1", drained)},
			services: []*store.Service{web},
			tasks:    pending(web, 1),
			want:     []string{"t1 pending: no suitable node (1 node not available for new tasks)"},
		},
		{
			name:  "reasons by count, most common first",
			nodes: []*store.Node{ct.Node("n1"), ct.Node("n2"), ct.Node("n3"), ct.Node("n4", zone("a"), func(n *store.Node) { n.Description.Resources.NanoCPUs = 1e9 })},
			services: []*store.Service{ct.Service("svc", "web", 1, bigReservation, withSpec(func(s *swarm.TaskSpec) {
				s.Placement = &swarm.Placement{Constraints: []string{"node.labels.zone==a"}}
			}))},
			pending: 1,
			want:    []string{"t1 pending: no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient resources on 1 node)"},
		},
		{
			name:     "tasks spread over nodes by count of the service",
			nodes:    []*store.Node{ct.Node("n1"), ct.Node("n2"), ct.Node("n3")},
			services: []*store.Service{web},
			tasks:    append(pending(web, 2), ct.Task("old", web, 3, "n1")),
			want:     []string{"t1→n2", "t2→n3"},
		},
		{
			name:     "among equals, the node with fewer tasks overall",
			nodes:    []*store.Node{ct.Node("n1"), ct.Node("n2")},
			services: []*store.Service{web, ct.Service("other", "db", 1)},
			tasks:    append(pending(web, 1), ct.Task("db1", ct.Service("other", "db", 1), 1, "n1")),
			want:     []string{"t1→n2"},
		},
		{
			name:     "a node where the service failed recently is tried last",
			nodes:    []*store.Node{ct.Node("n1"), ct.Node("n2")},
			services: []*store.Service{web},
			tasks: append(pending(web, 1),
				ct.Task("dead", web, 1, "n1", ct.State(swarm.TaskStateRejected, now.Add(-time.Minute)), ct.Desired(swarm.TaskStateShutdown)),
				ct.Task("old", web, 2, "n2")),
			want: []string{"t1→n2"},
		},
		{
			name:     "an old failure does not count",
			nodes:    []*store.Node{ct.Node("n1"), ct.Node("n2")},
			services: []*store.Service{web},
			tasks: append(pending(web, 1),
				ct.Task("dead", web, 1, "n1", ct.State(swarm.TaskStateRejected, now.Add(-time.Hour)), ct.Desired(swarm.TaskStateShutdown)),
				ct.Task("old", web, 2, "n2")),
			want: []string{"t1→n1"},
		},
		{
			name:     "max replicas per node leaves the remainder pending",
			nodes:    []*store.Node{ct.Node("n1"), ct.Node("n2")},
			services: []*store.Service{ct.Service("svc", "web", 3, withSpec(func(s *swarm.TaskSpec) { s.Placement = &swarm.Placement{MaxReplicas: 1} }))},
			pending:  3,
			want:     []string{"t1→n1", "t2→n2", "t3 pending: no suitable node (max replicas per node limit exceed)"},
		},
		{
			name:     "reservations fill nodes",
			nodes:    []*store.Node{ct.Node("n1"), ct.Node("n2")},
			services: []*store.Service{ct.Service("svc", "web", 3, bigReservation)},
			pending:  3,
			want:     []string{"t1→n1", "t2→n2", "t3 pending: no suitable node (insufficient resources on 2 nodes)"},
		},
		{
			name:     "reservations of tasks still stopping count",
			nodes:    []*store.Node{ct.Node("n1")},
			services: []*store.Service{ct.Service("svc", "web", 1, bigReservation)},
			tasks: []*store.Task{
				ct.Task("t1", ct.Service("svc", "web", 1, bigReservation), 1, "", allocated),
				ct.Task("old", ct.Service("svc", "web", 1, bigReservation), 1, "n1", ct.Desired(swarm.TaskStateShutdown)),
			},
			want: []string{"t1 pending: no suitable node (insufficient resources on 1 node)"},
		},
		{
			name:  "host-mode port collisions",
			nodes: []*store.Node{ct.Node("n1"), ct.Node("n2")},
			services: []*store.Service{ct.Service("svc", "web", 3, func(s *store.Service) {
				s.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}}
			})},
			pending: 3,
			want:    []string{"t1→n1", "t2→n2", "t3 pending: no suitable node (host-mode port already in use on 2 nodes)"},
		},
		{
			name:  "platforms",
			nodes: []*store.Node{ct.Node("n1"), ct.Node("n2", func(n *store.Node) { n.Description.Platform.Architecture = "aarch64" })},
			services: []*store.Service{ct.Service("svc", "web", 1, withSpec(func(s *swarm.TaskSpec) {
				s.Placement = &swarm.Placement{Platforms: []swarm.Platform{{OS: "linux", Architecture: "arm64"}}}
			}))},
			pending: 1,
			want:    []string{"t1→n2"},
		},
		{
			name:     "a global task is checked on its own node only",
			nodes:    []*store.Node{ct.Node("n1"), ct.Node("n2", drained)},
			services: []*store.Service{web},
			tasks:    []*store.Task{ct.Task("g1", web, 0, "n1", ct.State(swarm.TaskStatePending, now)), ct.Task("g2", web, 0, "n2", ct.State(swarm.TaskStatePending, now))},
			want:     []string{"g1→n1", "g2 pending: no suitable node (1 node not available for new tasks)"},
		},
		{
			name:     "a task pending for the same reason is not rewritten",
			nodes:    []*store.Node{ct.Node("n1", drained)},
			services: []*store.Service{web},
			tasks: []*store.Task{ct.Task("t1", web, 1, "", allocated, func(t *store.Task) {
				t.Status = swarm.TaskStatus{State: swarm.TaskStatePending, Err: "no suitable node (1 node not available for new tasks)"}
			})},
		},
		{
			name:     "tasks not meant to run, not yet allocated or of removed services are left alone",
			nodes:    []*store.Node{ct.Node("n1")},
			services: []*store.Service{web},
			tasks: []*store.Task{
				ct.Task("held", web, 1, "", allocated, ct.Desired(swarm.TaskStateReady)),
				ct.Task("orphan", ct.Service("gone", "x", 1), 1, "", allocated),
				ct.Task("unallocated", web, 2, ""),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := tt.tasks
			if tt.pending > 0 {
				tasks = append(tasks, pending(tt.services[0], tt.pending)...)
			}
			r := scheduler.Decide(scheduler.Input{Snapshot: controller.Snapshot{Nodes: tt.nodes, Services: tt.services, Tasks: tasks}, Now: now})
			if diff := cmp.Diff(tt.want, outcome(r)); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideSpreadsOverZones(t *testing.T) {
	spread := func(descriptors ...string) func(*store.Service) {
		return withSpec(func(s *swarm.TaskSpec) {
			s.Placement = &swarm.Placement{}
			for _, d := range descriptors {
				s.Placement.Preferences = append(s.Placement.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: d}})
			}
		})
	}
	rack := func(r string) func(*store.Node) { return func(n *store.Node) { n.Spec.Labels["rack"] = r } }
	tests := []struct {
		name    string
		nodes   []*store.Node
		service *store.Service
		tasks   int
		running map[string]int // tasks of the service already on nodes
		want    map[string]int
	}{
		{
			name:    "two zones of unequal size get equal shares",
			nodes:   []*store.Node{ct.Node("a1", zone("a")), ct.Node("b1", zone("b")), ct.Node("b2", zone("b")), ct.Node("b3", zone("b"))},
			service: ct.Service("svc", "web", 6, spread("node.labels.zone")),
			tasks:   6,
			want:    map[string]int{"a1": 3, "b1": 1, "b2": 1, "b3": 1},
		},
		{
			name:    "tasks already running count towards their zone",
			nodes:   []*store.Node{ct.Node("a1", zone("a")), ct.Node("a2", zone("a")), ct.Node("b1", zone("b"))},
			service: ct.Service("svc", "web", 4, spread("node.labels.zone")),
			tasks:   2,
			running: map[string]int{"a1": 1, "a2": 1},
			want:    map[string]int{"b1": 2},
		},
		{
			name:    "nodes without the label are a group of their own",
			nodes:   []*store.Node{ct.Node("a1", zone("a")), ct.Node("x1"), ct.Node("x2")},
			service: ct.Service("svc", "web", 4, spread("node.labels.zone")),
			tasks:   4,
			want:    map[string]int{"a1": 2, "x1": 1, "x2": 1},
		},
		{
			name: "two levels: zones, then racks within each zone",
			nodes: []*store.Node{
				ct.Node("a1", zone("a"), rack("r1")), ct.Node("a2", zone("a"), rack("r1")), ct.Node("a3", zone("a"), rack("r2")),
				ct.Node("b1", zone("b"), rack("r3")),
			},
			service: ct.Service("svc", "web", 8, spread("node.labels.zone", "node.labels.rack")),
			tasks:   8,
			want:    map[string]int{"a1": 1, "a2": 1, "a3": 2, "b1": 4},
		},
		{
			name:    "a zone that fills up leaves the rest to the others",
			nodes:   []*store.Node{ct.Node("a1", zone("a")), ct.Node("b1", zone("b"))},
			service: ct.Service("svc", "web", 4, spread("node.labels.zone"), withSpec(func(s *swarm.TaskSpec) { s.Placement.MaxReplicas = 1 })),
			tasks:   2,
			running: map[string]int{"b1": 1},
			want:    map[string]int{"a1": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := pending(tt.service, tt.tasks)
			for node, n := range tt.running {
				for i := range n {
					tasks = append(tasks, ct.Task(fmt.Sprintf("run-%s-%d", node, i), tt.service, 100+len(tasks), node))
				}
			}
			r := scheduler.Decide(scheduler.Input{Snapshot: controller.Snapshot{Nodes: tt.nodes, Services: []*store.Service{tt.service}, Tasks: tasks}, Now: now})
			if diff := cmp.Diff(tt.want, perNode(r)); diff != "" {
				t.Errorf("tasks per node (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideGivesNamedGenericResources(t *testing.T) {
	node := ct.Node("n1", func(n *store.Node) {
		for _, v := range []string{"gpu-b", "gpu-a", "gpu-c"} {
			n.Description.Resources.GenericResources = append(n.Description.Resources.GenericResources,
				swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: v}})
		}
	})
	svc := ct.Service("svc", "train", 2, withSpec(func(s *swarm.TaskSpec) {
		s.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{GenericResources: []swarm.GenericResource{
			{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: "gpu", Value: 1}},
		}}}
	}))
	held := ct.Task("old", svc, 3, "n1", func(t *store.Task) {
		t.GenericResources = []swarm.GenericResource{{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: "gpu-a"}}}
	})
	r := scheduler.Decide(scheduler.Input{Snapshot: controller.Snapshot{Nodes: []*store.Node{node}, Services: []*store.Service{svc}, Tasks: append(pending(svc, 2), held)}, Now: now})
	got := map[string]string{}
	for _, t := range r.Tasks {
		for _, g := range t.GenericResources {
			got[t.ID] += g.NamedResourceSpec.Value
		}
	}
	if diff := cmp.Diff(map[string]string{"t1": "gpu-b", "t2": "gpu-c"}, got); diff != "" {
		t.Errorf("GPUs given (-want +got):\n%s", diff)
	}
}

func TestDecideIsDeterministic(t *testing.T) {
	var nodes []*store.Node
	for i := range 50 {
		nodes = append(nodes, ct.Node(fmt.Sprintf("n%02d", i), zone(fmt.Sprint(i%3))))
	}
	svc := ct.Service("svc", "web", 200, withSpec(func(s *swarm.TaskSpec) {
		s.Placement = &swarm.Placement{Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}}}
	}))
	in := scheduler.Input{Snapshot: controller.Snapshot{Nodes: nodes, Services: []*store.Service{svc}, Tasks: pending(svc, 200)}, Now: now}
	first := outcome(scheduler.Decide(in))
	for range 3 {
		if diff := cmp.Diff(first, outcome(scheduler.Decide(in))); diff != "" {
			t.Fatalf("second decision differs (-first +again):\n%s", diff)
		}
	}
}
