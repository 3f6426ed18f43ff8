package rebalance

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

var now = ct.Epoch.Add(time.Hour)

// asked marks a rebalance requested.
func asked(s *store.Service) {
	s.Rebalance = &store.RebalanceStatus{State: store.RebalanceActive, StartedAt: now}
}

func auto(s *store.Service) { s.Spec.Labels = map[string]string{Label: Auto} }

func update(c swarm.UpdateConfig) func(*store.Service) {
	return func(s *store.Service) { s.Spec.UpdateConfig = &c }
}

// spread returns running tasks of svc, slot after slot, on nodes given as
// "node:count".
func spread(svc *store.Service, placement ...string) []*store.Task {
	var out []*store.Task
	slot := 1
	for _, p := range placement {
		node, count, _ := strings.Cut(p, ":")
		var n int
		fmt.Sscan(count, &n)
		for range n {
			out = append(out, ct.Task(fmt.Sprintf("t%02d", slot), svc, slot, node, ct.Version(uint64(slot))))
			slot++
		}
	}
	return out
}

func nodes(ids ...string) []*store.Node {
	var out []*store.Node
	for _, id := range ids {
		out = append(out, ct.Node(id))
	}
	return out
}

// summary is what a decision does, in words: "slot 3: t03 shutdown, new
// ready", "svc: completed", "svc: moved 2".
func summary(changes []controller.Change) []string {
	var out []string
	for _, c := range changes {
		for _, s := range c.Services {
			out = append(out, fmt.Sprintf("%s: %s %s", s.ID, s.Rebalance.State, s.Rebalance.Message))
		}
		if len(c.Tasks) == 0 {
			continue
		}
		var parts []string
		for _, t := range c.Tasks {
			id := t.ID
			if !strings.HasPrefix(id, "t") {
				id = "new"
			}
			parts = append(parts, id+" "+string(t.DesiredState))
		}
		out = append(out, fmt.Sprintf("slot %d: %s", c.Tasks[0].Slot, strings.Join(parts, ", ")))
	}
	slices.Sort(out)
	return out
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []*store.Node
		svc      *store.Service
		tasks    func(svc *store.Service) []*store.Task
		want     []string
		wantNext time.Time
	}{
		{
			name:  "new node gets a task, stop-first, one at a time",
			nodes: nodes("n1", "n2", "n3"),
			svc:   ct.Service("svc", "web", 6, asked),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:3", "n2:3") },
			want:  []string{"slot 3: t03 shutdown, new ready", "svc: rebalancing moved 1 tasks"},
		},
		{
			name:  "parallelism 2 moves from both loaded nodes",
			nodes: nodes("n1", "n2", "n3"),
			svc:   ct.Service("svc", "web", 6, asked, update(swarm.UpdateConfig{Parallelism: 2})),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:3", "n2:3") },
			want:  []string{"slot 3: t03 shutdown, new ready", "slot 6: t06 shutdown, new ready", "svc: rebalancing moved 2 tasks"},
		},
		{
			name:  "start-first starts the replacement beside the task",
			nodes: nodes("n1", "n2"),
			svc:   ct.Service("svc", "web", 4, auto, update(swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst})),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:4") },
			want:  []string{"slot 4: new running"},
		},
		{
			name:  "start-first move ends once the new task runs",
			nodes: nodes("n1", "n2"),
			svc:   ct.Service("svc", "web", 4, auto),
			tasks: func(s *store.Service) []*store.Task {
				return append(spread(s, "n1:3", "n2:1"), ct.Task("t09", s, 3, "n2", ct.Created(now)))
			},
			want: []string{"slot 3: t03 shutdown"},
		},
		{
			name:  "balanced request completes",
			nodes: nodes("n1", "n2", "n3"),
			svc:   ct.Service("svc", "web", 5, asked),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:2", "n2:2", "n3:1") },
			want:  []string{"svc: completed tasks spread as the scheduler would place them"},
		},
		{
			name:  "a difference of one is balanced",
			nodes: nodes("n1", "n2"),
			svc:   ct.Service("svc", "web", 3, auto),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:2", "n2:1") },
		},
		{
			name:  "nothing asked",
			nodes: nodes("n1", "n2"),
			svc:   ct.Service("svc", "web", 4),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:4") },
		},
		{
			name:  "a batch in flight is waited for",
			nodes: nodes("n1", "n2"),
			svc:   ct.Service("svc", "web", 4, auto),
			tasks: func(s *store.Service) []*store.Task {
				return append(spread(s, "n1:4"), ct.Task("t09", s, 5, "", ct.Desired(swarm.TaskStateReady)))
			},
		},
		{
			name:  "delay after the last task started",
			nodes: nodes("n1", "n2"),
			svc:   ct.Service("svc", "web", 4, auto, update(swarm.UpdateConfig{Parallelism: 1, Delay: time.Minute})),
			tasks: func(s *store.Service) []*store.Task {
				ts := spread(s, "n1:3", "n2:1")
				ts[3].Status.Timestamp = now.Add(-10 * time.Second)
				return ts
			},
			wantNext: now.Add(50 * time.Second),
		},
		{
			name:  "an update in progress owns the slots",
			nodes: nodes("n1", "n2"),
			svc: ct.Service("svc", "web", 4, auto, func(s *store.Service) {
				s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
			}),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:4") },
		},
		{
			name:  "an empty node the constraints exclude gets nothing",
			nodes: append(nodes("n1", "n2"), ct.Node("n3", func(n *store.Node) { n.Spec.Labels["zone"] = "b" })),
			svc: ct.Service("svc", "web", 4, auto, func(s *store.Service) {
				s.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.labels.zone!=b"}}
			}),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:2", "n2:2") },
		},
		{
			name:  "an empty node without room gets nothing",
			nodes: append(nodes("n1"), ct.Node("n2", func(n *store.Node) { n.Description.Resources.MemoryBytes = 1 << 20 })),
			svc: ct.Service("svc", "web", 4, auto, func(s *store.Service) {
				s.Spec.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{MemoryBytes: 64 << 20}}
			}),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:4") },
		},
		{
			name:  "a drained node gets nothing",
			nodes: append(nodes("n1"), ct.Node("n2", func(n *store.Node) { n.Spec.Availability = swarm.NodeAvailabilityDrain })),
			svc:   ct.Service("svc", "web", 4, auto),
			tasks: func(s *store.Service) []*store.Task { return spread(s, "n1:4") },
		},
		{
			name:  "global services are not rebalanced",
			nodes: nodes("n1", "n2"),
			svc:   ct.Service("svc", "web", 0, ct.Global, auto),
			tasks: func(s *store.Service) []*store.Task { return []*store.Task{ct.Task("t01", s, 0, "n1")} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := 0
			res := Decide(Input{
				Snapshot: controller.Snapshot{Nodes: tt.nodes, Services: []*store.Service{tt.svc}, Tasks: tt.tasks(tt.svc)},
				Now:      now,
				NewID:    func() string { ids++; return fmt.Sprintf("n%03d", ids) },
			})
			if diff := cmp.Diff(tt.want, summary(res.Changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if !res.Next.Equal(tt.wantNext) {
				t.Errorf("got next %v, want %v", res.Next, tt.wantNext)
			}
		})
	}
}

func TestPlanSpreadsOverZones(t *testing.T) {
	zone := func(z string) func(*store.Node) { return func(n *store.Node) { n.Spec.Labels["zone"] = z } }
	ns := []*store.Node{ct.Node("a1", zone("a")), ct.Node("a2", zone("a")), ct.Node("b1", zone("b")), ct.Node("b2", zone("b"))}
	svc := ct.Service("svc", "web", 8, auto, func(s *store.Service) {
		s.Spec.TaskTemplate.Placement = &swarm.Placement{Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}}}
	})
	// Zone b joined late: everything runs in zone a.
	tasks := spread(svc, "a1:4", "a2:4")
	moves := Plan(controller.Snapshot{Nodes: ns, Services: []*store.Service{svc}, Tasks: tasks}, svc, now, 0)
	perNode := map[string]int{"a1": 4, "a2": 4}
	for _, m := range moves {
		perNode[m.From]--
		perNode[m.To]++
	}
	want := map[string]int{"a1": 2, "a2": 2, "b1": 2, "b2": 2}
	if diff := cmp.Diff(want, perNode); diff != "" {
		t.Errorf("tasks per node after %d moves (-want +got):\n%s", len(moves), diff)
	}
}

// Parallelism 0 moves all it can, but at most MaxMoves in one batch.
func TestDecideMovesAtMostABatch(t *testing.T) {
	var ns []*store.Node
	for i := range 3 * MaxMoves {
		ns = append(ns, ct.Node(fmt.Sprintf("n%03d", i)))
	}
	svc := ct.Service("svc", "web", 3*MaxMoves, auto, update(swarm.UpdateConfig{Parallelism: 0}))
	res := Decide(Input{
		Snapshot: controller.Snapshot{Nodes: ns, Services: []*store.Service{svc}, Tasks: spread(svc, fmt.Sprintf("n000:%d", 3*MaxMoves))},
		Now:      now,
	})
	if got := len(res.Changes); got != MaxMoves {
		t.Errorf("got %d moves, want %d", got, MaxMoves)
	}
}
