package orchestrator_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/store"
)

func TestShare(t *testing.T) {
	tests := []struct {
		name   string
		wants  []int
		budget int
		want   []int
	}{
		{"everyone fits", []int{3, 5, 1}, 100, []int{3, 5, 1}},
		{"small wants whole beside a huge one", []int{1 << 31, 3, 5}, 100, []int{92, 3, 5}},
		{"even split of equal wants", []int{50, 50, 50}, 90, []int{30, 30, 30}},
		{"the remainder goes to the largest", []int{10, 10, 10}, 10, []int{3, 3, 4}},
		{"no budget", []int{4, 2}, 0, []int{0, 0}},
		{"nobody wants", nil, 10, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := orchestrator.Share(tt.wants, tt.budget)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Share(%v, %d) (-want +got):\n%s", tt.wants, tt.budget, diff)
			}
		})
	}
}

// counts sums a result per service: tasks created and tasks marked for
// removal.
func counts(r orchestrator.Result) (created, removed map[string]int) {
	created, removed = map[string]int{}, map[string]int{}
	for _, c := range r.Changes {
		for _, t := range c.Tasks {
			switch {
			case t.Version.Index == 0:
				created[t.ServiceID]++
			case t.DesiredState == swarm.TaskStateRemove:
				removed[t.ServiceID]++
			}
		}
	}
	return created, removed
}

// manyTasks returns n running tasks of svc in slots from..from+n-1, as
// read from the store.
func manyTasks(svc *store.Service, from, n int) []*store.Task {
	out := make([]*store.Task, n)
	for i := range out {
		out[i] = at(fmt.Sprintf("%s-t%d", svc.ID, from+i), svc, from+i, "n1", time.Hour, ct.Version(1))
	}
	return out
}

// raised is a cluster whose MaxReplicas is the ceiling, so that counts of
// many times a budget are valid.
var raised = &store.Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "cluster", Spec: swarm.Spec{
	Annotations: swarm.Annotations{Labels: map[string]string{limits.MaxReplicasLabel: fmt.Sprint(limits.CeilingMaxReplicas)}},
}}}}

func TestDecideWithinBudget(t *testing.T) {
	const budget = 100
	huge := ct.Service("huge", "huge", 30000)
	small := ct.Service("small", "small", 3)
	job := ct.Service("job", "job", 0, func(s *store.Service) {
		n := uint64(30000)
		s.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &n, TotalCompletions: &n}}
		s.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: 1}}
	})
	global := ct.Service("global", "global", 0, ct.Global)
	one := ct.Service("one", "one", 1)
	var many []*store.Node
	for i := range 3 * budget {
		many = append(many, ct.Node(fmt.Sprintf("n%03d", i)))
	}
	gone := ct.Service("gone", "gone", 1)
	tests := []struct {
		name         string
		nodes        []*store.Node
		services     []*store.Service
		tasks        []*store.Task
		wantCreated  map[string]int
		wantRemoved  map[string]int
		wantNextPass bool
	}{
		{
			name:         "30000 replicas make one batch",
			services:     []*store.Service{huge},
			wantCreated:  map[string]int{"huge": budget},
			wantNextPass: true,
		},
		{
			name:         "a small service is served whole beside a huge one",
			services:     []*store.Service{huge, small},
			wantCreated:  map[string]int{"huge": budget - 3, "small": 3},
			wantNextPass: true,
		},
		{
			name:         "a job of 30000 completions makes one batch",
			services:     []*store.Service{job},
			wantCreated:  map[string]int{"job": budget},
			wantNextPass: true,
		},
		{
			name:         "a global service over more nodes than the budget",
			nodes:        many,
			services:     []*store.Service{global},
			wantCreated:  map[string]int{"global": budget},
			wantNextPass: true,
		},
		{
			name:         "scale down past the budget",
			services:     []*store.Service{one},
			tasks:        manyTasks(one, 1, 3*budget),
			wantRemoved:  map[string]int{"one": budget},
			wantNextPass: true,
		},
		{
			name:         "tasks of a removed service past the budget",
			tasks:        manyTasks(gone, 1, 3*budget),
			wantRemoved:  map[string]int{"gone": budget},
			wantNextPass: true,
		},
		{
			name:        "within the budget no pass is due",
			services:    []*store.Service{small, one},
			tasks:       manyTasks(one, 1, 40),
			wantCreated: map[string]int{"small": 3},
			wantRemoved: map[string]int{"one": 39},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := tt.nodes
			if nodes == nil {
				nodes = []*store.Node{ct.Node("n1")}
			}
			n := 0
			r := orchestrator.Decide(orchestrator.Input{
				Snapshot: controller.Snapshot{Cluster: raised, Nodes: nodes, Services: tt.services, Tasks: tt.tasks},
				Now:      now,
				NewID: func() string {
					// A decision past the budget stops here, before it
					// takes the machine's memory.
					if n++; n > budget {
						t.Fatalf("more than %d tasks created in one pass", budget)
					}
					return fmt.Sprintf("new%d", n)
				},
				Budget: budget,
			})
			created, removed := counts(r)
			if tt.wantCreated == nil {
				tt.wantCreated = map[string]int{}
			}
			if tt.wantRemoved == nil {
				tt.wantRemoved = map[string]int{}
			}
			if diff := cmp.Diff(tt.wantCreated, created); diff != "" {
				t.Errorf("tasks created per service (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRemoved, removed); diff != "" {
				t.Errorf("tasks removed per service (-want +got):\n%s", diff)
			}
			if got := r.Next.Equal(now); got != tt.wantNextPass {
				t.Errorf("got next %v, want a pass due at once: %v", r.Next, tt.wantNextPass)
			}
		})
	}
}

// A valid large count converges pass by pass through the store, each pass
// a batch, and so does the scale down that follows.
func TestDecideConvergesInBatches(t *testing.T) {
	const budget, replicas = 1000, 12345
	st := ct.NewStore(t)
	ct.Put(t, st, raised, ct.Node("n1"), ct.Service("svc", "web", replicas))
	ids := 0
	pass := func() (created, removed int, again bool) {
		t.Helper()
		r := orchestrator.Decide(orchestrator.Input{
			Snapshot: controller.Read(st),
			Now:      now,
			NewID:    func() string { ids++; return fmt.Sprintf("task%06d", ids) },
			Budget:   budget,
		})
		if _, stale, err := controller.Apply(t.Context(), st, r.Changes); err != nil || stale > 0 {
			t.Fatalf("apply: %d stale, err %v", stale, err)
		}
		c, rm := counts(r)
		return c["svc"], rm["svc"], r.Next.Equal(now)
	}
	converge := func(what string, want int, count func(created, removed int) int) {
		t.Helper()
		passes, done := 0, 0
		for again := true; again; passes++ {
			if passes > want/budget+1 {
				t.Fatalf("%s: not converged after %d passes (%d done)", what, passes, done)
			}
			c, rm, next := pass()
			if n := count(c, rm); n > budget {
				t.Fatalf("%s: pass %d did %d, want at most %d", what, passes, n, budget)
			} else {
				done += n
			}
			again = next
		}
		if done != want {
			t.Errorf("%s: got %d done in %d passes, want %d", what, done, passes, want)
		}
		if c, rm, next := pass(); c != 0 || rm != 0 || next {
			t.Errorf("%s: a converged service got %d created, %d removed, next pass %v; want nothing", what, c, rm, next)
		}
	}
	converge("scale up", replicas, func(c, _ int) int { return c })
	slots := map[int]bool{}
	st.View(func(tx store.ReadTx) {
		for _, task := range store.TasksByService(tx, "svc") {
			slots[task.Slot] = true
		}
	})
	if len(slots) != replicas || !slots[1] || !slots[replicas] {
		t.Errorf("got %d distinct slots, want 1..%d", len(slots), replicas)
	}

	var svc *store.Service
	st.View(func(tx store.ReadTx) { svc = store.Clone(store.Get[*store.Service](tx, "svc")) })
	ten := uint64(10)
	svc.Spec.Mode.Replicated.Replicas = &ten
	ct.Put(t, st, svc)
	converge("scale down", replicas-10, func(_, rm int) int { return rm })
}
