package leader_test

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/controller/leader"
	"github.com/shoal-project/shoal/internal/store"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs the controllers until the test ends.
func start(t *testing.T, st *store.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- leader.New(st, quiet(), leader.Config{}).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func allTasks(st *store.Store) []*store.Task {
	var out []*store.Task
	st.View(func(tx store.ReadTx) { out = store.All[*store.Task](tx) })
	return out
}

// agent plays every worker once: assigned tasks run, tasks asked to stop
// stop.
func agent(t *testing.T, st *store.Store) {
	t.Helper()
	var changed []any
	for _, task := range allTasks(st) {
		c := *task
		switch {
		case task.NodeID == "" || task.Status.State == swarm.TaskStateRunning && task.DesiredState == swarm.TaskStateRunning:
			continue
		case task.DesiredState == swarm.TaskStateRunning && task.Status.State == swarm.TaskStateAssigned:
			c.Status = swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: time.Now()}
		case task.DesiredState != swarm.TaskStateRunning && (task.Status.State == swarm.TaskStateAssigned || task.Status.State == swarm.TaskStateRunning):
			c.Status = swarm.TaskStatus{State: swarm.TaskStateShutdown, Timestamp: time.Now()}
		default:
			continue
		}
		changed = append(changed, &c)
	}
	if len(changed) > 0 {
		ct.Put(t, st, changed...)
	}
}

// slots summarises the tasks per slot as "desired/state" in creation order.
func slots(st *store.Store) map[int][]string {
	out := map[int][]string{}
	tasks := allTasks(st)
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].CreatedAt.Before(tasks[j].CreatedAt) })
	for _, task := range tasks {
		out[task.Slot] = append(out[task.Slot], string(task.DesiredState)+"/"+string(task.Status.State))
	}
	return out
}

func TestControllersRunAServiceThroughItsLife(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := ct.NewStore(t)
		start(t, st)
		settle := func() { time.Sleep(time.Second) }
		svc := ct.Service("svc", "web", 3)
		ct.Put(t, st, ct.Node("n1"), ct.Node("n2"), svc)
		settle()
		perNode := map[string]int{}
		for _, task := range allTasks(st) {
			if task.Status.State != swarm.TaskStateAssigned {
				t.Fatalf("task %s is %s, want assigned", task.ID, task.Status.State)
			}
			perNode[task.NodeID]++
		}
		if diff := cmp.Diff(map[string]int{"n1": 2, "n2": 1}, perNode); diff != "" {
			t.Fatalf("tasks per node (-want +got):\n%s", diff)
		}
		agent(t, st)
		settle()

		// A task fails: it is shut down and replaced after the restart
		// delay.
		var victim store.Task
		for _, task := range allTasks(st) {
			if task.Slot == 1 {
				victim = *task
			}
		}
		victim.Status = swarm.TaskStatus{State: swarm.TaskStateFailed, Timestamp: time.Now(), Err: "task: non-zero exit (1)"}
		ct.Put(t, st, &victim)
		settle()
		if diff := cmp.Diff([]string{"shutdown/failed", "ready/pending"}, slots(st)[1]); diff != "" {
			t.Fatalf("slot 1 after the failure (-want +got):\n%s", diff)
		}
		time.Sleep(5 * time.Second)
		agent(t, st)
		settle()
		if diff := cmp.Diff([]string{"shutdown/failed", "running/running"}, slots(st)[1]); diff != "" {
			t.Fatalf("slot 1 after the restart delay (-want +got):\n%s", diff)
		}

		// Scale down to one: the highest slots go, and once stopped
		// they are deleted.
		var cur *store.Service
		st.View(func(tx store.ReadTx) { cur = store.Get[*store.Service](tx, "svc") })
		scaled := *cur
		one := uint64(1)
		scaled.Spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
		scaled.SpecVersion++
		ct.Put(t, st, &scaled)
		settle()
		agent(t, st)
		settle()
		if diff := cmp.Diff(map[int][]string{1: {"shutdown/failed", "running/running"}}, slots(st)); diff != "" {
			t.Fatalf("tasks after scaling to one (-want +got):\n%s", diff)
		}
	})
}

// TestControllersOverRaft runs the controllers on a store replicated by a
// real raft group, as the manager does.
func TestControllersOverRaft(t *testing.T) {
	st := consensustest.NewStore(t)
	start(t, st)
	ct.Put(t, st, ct.Node("n1"), ct.Service("svc", "web", 2))
	deadline := time.Now().Add(20 * time.Second)
	for {
		assigned := 0
		for _, task := range allTasks(st) {
			if task.Status.State == swarm.TaskStateAssigned && task.NodeID == "n1" {
				assigned++
			}
		}
		if assigned == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d tasks assigned, want 2", assigned)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
