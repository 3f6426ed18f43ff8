package leader_test

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/limits"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/controller/leader"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
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

// errorCount is a logger that counts the errors logged, such as a pass
// that failed.
type errorCount struct {
	slog.Handler
	n *atomic.Int32
}

func (h errorCount) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
	}
	return nil
}

func (h errorCount) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h errorCount) WithGroup(string) slog.Handler      { return h }

// A service the cluster cannot serve, found in the store, is marked and
// left alone; the others are served beside it, no pass fails, and once
// fixed it is served too.
func TestControllersServeBesideAnUnservableService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := ct.NewStore(t)
		var errs atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- leader.New(st, slog.New(errorCount{slog.DiscardHandler, &errs}), leader.Config{}).Run(ctx)
		}()
		defer func() { cancel(); <-done }()

		// Past the default limit of 10,000, and bounded, so that a
		// regression makes 20,000 tasks rather than take the machine.
		bad := ct.Service("bad", "bad", 2*limits.DefaultMaxReplicas)
		big := ct.Service("big", "big", 1, func(s *store.Service) {
			s.Spec.TaskTemplate.ContainerSpec.Env = []string{"BIG=" + strings.Repeat("x", limits.MaxObjectSize)}
		})
		ran := ct.Task("old", bad, 1, "n1")
		ct.Put(t, st, ct.Node("n1"), ct.Node("n2"), ct.Service("web", "web", 3), bad, big, ran)
		time.Sleep(time.Second)

		byService := map[string][]*store.Task{}
		for _, task := range allTasks(st) {
			byService[task.ServiceID] = append(byService[task.ServiceID], task)
		}
		if n := len(byService["web"]); n != 3 {
			t.Errorf("web got %d tasks, want 3 beside the unservable services", n)
		}
		for _, id := range []string{"bad", "big"} {
			var svc *store.Service
			st.View(func(tx store.ReadTx) { svc = store.Get[*store.Service](tx, id) })
			if u := svc.UpdateStatus; u == nil || u.State != swarm.UpdateStatePaused || !strings.HasPrefix(u.Message, orchestrator.MessageUnservable) {
				t.Errorf("service %s got update status %+v, want paused, saying it cannot be served", id, u)
			}
			marks := 0
			for _, task := range byService[id] {
				if orchestrator.IsMark(task) {
					marks++
					if task.Status.Err != svc.UpdateStatus.Message {
						t.Errorf("service %s's mark says %q, want %q", id, task.Status.Err, svc.UpdateStatus.Message)
					}
				}
			}
			if marks != 1 {
				t.Errorf("service %s got %d marks, want 1", id, marks)
			}
		}
		if got := len(byService["bad"]); got != 2 {
			t.Errorf("bad got %d tasks, want its old one and its mark", got)
		}

		// Fixed as `docker service update --replicas 2` does: the mark
		// goes, the service runs.
		var cur *store.Service
		st.View(func(tx store.ReadTx) { cur = store.Clone(store.Get[*store.Service](tx, "bad")) })
		two := uint64(2)
		cur.Spec.Mode.Replicated.Replicas = &two
		cur.SpecVersion++
		cur.UpdateStatus = nil
		ct.Put(t, st, cur)
		time.Sleep(time.Second)
		live, marks := 0, 0
		for _, task := range allTasks(st) {
			switch {
			case task.ServiceID != "bad":
			case orchestrator.IsMark(task):
				marks++
			case task.DesiredState == swarm.TaskStateRunning:
				live++
			}
		}
		if live != 2 || marks != 0 {
			t.Errorf("fixed service got %d tasks meant to run and %d marks, want 2 and none", live, marks)
		}
		if n := errs.Load(); n != 0 {
			t.Errorf("got %d errors logged, want none: no pass fails for an unservable service", n)
		}
	})
}

// A valid count of several batches converges without waiting for the
// loops' resync: a pass that left work asks for the next at once.
func TestControllersConvergeLargeCountsInBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := ct.NewStore(t)
		start(t, st)
		replicas := 2*orchestrator.DefaultBudget + 10
		cluster := &store.Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "c", Spec: swarm.Spec{
			Annotations: swarm.Annotations{Labels: map[string]string{limits.MaxReplicasLabel: "100000"}},
		}}}}
		ct.Put(t, st, cluster, ct.Node("n1"), ct.Service("svc", "web", uint64(replicas)))
		time.Sleep(time.Second) // well short of the 10 s resync
		if got := len(allTasks(st)); got != replicas {
			t.Errorf("got %d tasks after a second, want %d", got, replicas)
		}
	})
}
