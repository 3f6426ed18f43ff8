package reaper_test

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/reaper"
	"github.com/shoal-project/shoal/internal/store"
)

func ptr[T any](v T) *T { return &v }

// history returns n ended tasks h1..hn in slot 1, oldest first, and the
// running task "live" created after them.
func history(svc *store.Service, n int) []*store.Task {
	var out []*store.Task
	for i := 1; i <= n; i++ {
		out = append(out, ct.Task("h"+string(rune('0'+i)), svc, 1, "n1",
			ct.Created(ct.Epoch.Add(time.Duration(i)*time.Minute)),
			ct.State(swarm.TaskStateFailed, ct.Epoch), ct.Desired(swarm.TaskStateShutdown)))
	}
	return append(out, ct.Task("live", svc, 1, "n1", ct.Created(ct.Epoch.Add(time.Hour))))
}

func TestDecide(t *testing.T) {
	svc := ct.Service("svc", "web", 1)
	limit := func(n int64) *store.Cluster {
		c := &store.Cluster{}
		c.Spec.Orchestration.TaskHistoryRetentionLimit = &n
		return c
	}
	tests := []struct {
		name     string
		cluster  *store.Cluster
		services []*store.Service
		tasks    []*store.Task
		want     []string
	}{
		{
			name:     "removed tasks go once stopped",
			services: []*store.Service{svc},
			tasks: []*store.Task{
				ct.Task("stopped", svc, 2, "n1", ct.Desired(swarm.TaskStateRemove), ct.State(swarm.TaskStateShutdown, ct.Epoch)),
				ct.Task("stopping", svc, 3, "n1", ct.Desired(swarm.TaskStateRemove)),
				ct.Task("unassigned", svc, 4, "", ct.Desired(swarm.TaskStateRemove)),
				ct.Task("node-gone", svc, 5, "gone", ct.Desired(swarm.TaskStateRemove)),
				ct.Task("node-down", svc, 6, "down", ct.Desired(swarm.TaskStateRemove)),
			},
			want: []string{"node-gone", "stopped", "unassigned"},
		},
		{
			name:     "default history keeps five tasks per slot",
			services: []*store.Service{svc},
			tasks:    history(svc, 6),
			want:     []string{"h1", "h2"},
		},
		{
			name:     "the cluster's limit applies",
			cluster:  limit(2),
			services: []*store.Service{svc},
			tasks:    history(svc, 3),
			want:     []string{"h1", "h2"},
		},
		{
			name:     "negative limit keeps everything",
			cluster:  limit(-1),
			services: []*store.Service{svc},
			tasks:    history(svc, 9),
		},
		{
			name:    "the restart policy's attempts are kept",
			cluster: limit(2),
			services: []*store.Service{ct.Service("svc", "web", 1, func(s *store.Service) {
				s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{MaxAttempts: ptr(uint64(3))}
			})},
			tasks: history(svc, 4),
			want:  []string{"h1"},
		},
		{
			name:     "the newest task of a slot stays even when ended",
			cluster:  limit(0),
			services: []*store.Service{svc},
			tasks:    history(svc, 2)[:2],
			want:     []string{"h1"},
		},
		{
			name:     "tasks meant to run stay",
			cluster:  limit(1),
			services: []*store.Service{svc},
			tasks: []*store.Task{
				ct.Task("old", svc, 1, "n1", ct.Created(ct.Epoch)),
				ct.Task("new", svc, 1, "n1", ct.Created(ct.Epoch.Add(time.Minute))),
			},
		},
		{
			name:     "global services keep history per node",
			cluster:  limit(1),
			services: []*store.Service{ct.Service("g", "agent", 0, ct.Global)},
			tasks: []*store.Task{
				ct.Task("a1", ct.Service("g", "agent", 0, ct.Global), 0, "n1", ct.Created(ct.Epoch), ct.State(swarm.TaskStateFailed, ct.Epoch), ct.Desired(swarm.TaskStateShutdown)),
				ct.Task("a2", ct.Service("g", "agent", 0, ct.Global), 0, "n1", ct.Created(ct.Epoch.Add(time.Minute))),
				ct.Task("b1", ct.Service("g", "agent", 0, ct.Global), 0, "n2", ct.Created(ct.Epoch)),
			},
			want: []string{"a1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := []*store.Node{ct.Node("n1"), ct.Node("n2"), ct.Node("down", func(n *store.Node) { n.Status.State = swarm.NodeStateDown })}
			var got []string
			for _, c := range reaper.Decide(controller.Snapshot{Cluster: tt.cluster, Nodes: nodes, Services: tt.services, Tasks: tt.tasks}) {
				for _, d := range c.Deletes {
					got = append(got, d.ID)
				}
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
		})
	}
}
