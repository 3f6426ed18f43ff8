package scheduler_test

import (
	"fmt"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/scheduler"
	"github.com/shoal-project/shoal/internal/store"
)

// benchCluster builds nodes in three zones with two disk kinds, services
// of mixed kinds (plain, spread over zones, constrained to a disk,
// reserving CPU and memory), their pending tasks, and as many tasks
// already running.
func benchCluster(nodes, services, perService int) controller.Snapshot {
	var s controller.Snapshot
	for i := range nodes {
		s.Nodes = append(s.Nodes, ct.Node(fmt.Sprintf("node%04d", i), func(n *store.Node) {
			n.Spec.Labels["zone"] = fmt.Sprint("z", i%3)
			n.Spec.Labels["disk"] = []string{"ssd", "hdd"}[i%2]
			n.Description.Resources = swarm.Resources{NanoCPUs: 64e9, MemoryBytes: 256 << 30}
		}))
	}
	for i := range services {
		svc := ct.Service(fmt.Sprintf("svc%04d", i), fmt.Sprintf("web%d", i), uint64(perService), func(sv *store.Service) {
			spec := &sv.Spec.TaskTemplate
			switch i % 4 {
			case 1:
				spec.Placement = &swarm.Placement{Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}}}
			case 2:
				spec.Placement = &swarm.Placement{Constraints: []string{"node.labels.disk==ssd"}}
			case 3:
				spec.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: 1e8, MemoryBytes: 64 << 20}}
			}
		})
		s.Services = append(s.Services, svc)
		for j := range perService {
			s.Tasks = append(s.Tasks, ct.Task(fmt.Sprintf("%s-p%d", svc.ID, j), svc, j+1, "", ct.State(swarm.TaskStatePending, ct.Epoch)))
			s.Tasks = append(s.Tasks, ct.Task(fmt.Sprintf("%s-r%d", svc.ID, j), svc, perService+j+1, s.Nodes[(i*perService+j)%nodes].ID))
		}
	}
	return s
}

// BenchmarkDecide places 10,000 pending tasks of 100 services on 1,000
// nodes that already run 10,000 tasks; tasks/s is the number to watch.
func BenchmarkDecide(b *testing.B) {
	for _, c := range []struct{ nodes, services, perService int }{
		{1000, 100, 100},
		{1000, 1000, 10},
	} {
		b.Run(fmt.Sprintf("nodes=%d/services=%d/tasks=%d", c.nodes, c.services, c.services*c.perService), func(b *testing.B) {
			snap := benchCluster(c.nodes, c.services, c.perService)
			in := scheduler.Input{Snapshot: snap, Now: now}
			var placed int
			b.ResetTimer()
			for b.Loop() {
				placed = 0
				for _, t := range scheduler.Decide(in).Tasks {
					if t.Status.State == swarm.TaskStateAssigned {
						placed++
					}
				}
			}
			if placed != c.services*c.perService {
				b.Fatalf("placed %d tasks, want %d", placed, c.services*c.perService)
			}
			b.ReportMetric(float64(placed)*float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
