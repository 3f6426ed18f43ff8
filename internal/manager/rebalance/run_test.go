package rebalance_test

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/controller/leader"
	"github.com/shoal-project/shoal/internal/manager/rebalance"
	"github.com/shoal-project/shoal/internal/store"
)

// agents plays every node once: assigned tasks run, tasks asked to stop
// stop. It reports whether anything changed.
func agents(t *testing.T, st *store.Store) bool {
	t.Helper()
	var changed []any
	st.View(func(tx store.ReadTx) {
		for _, task := range store.All[*store.Task](tx) {
			c := *task
			switch {
			case task.NodeID == "":
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
	})
	if len(changed) > 0 {
		ct.Put(t, st, changed...)
	}
	return len(changed) > 0
}

// running counts the running tasks meant to run, per node.
func running(st *store.Store) map[string]int {
	out := map[string]int{}
	st.View(func(tx store.ReadTx) {
		for _, task := range store.All[*store.Task](tx) {
			if task.DesiredState == swarm.TaskStateRunning && task.Status.State == swarm.TaskStateRunning {
				out[task.NodeID]++
			}
		}
	})
	return out
}

// TestControllersRebalance runs every leader controller: a service placed
// on the only node, a node joins, and a rebalance (asked, or automatic)
// moves half the tasks there, through the orchestrator and the scheduler.
func TestControllersRebalance(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*store.Service)
		ask   bool
		order swarm.UpdateOrder
	}{
		{name: "asked, stop-first", ask: true, order: swarm.UpdateOrderStopFirst},
		{name: "asked, start-first", ask: true, order: swarm.UpdateOrderStartFirst},
		{name: "automatic", mod: func(s *store.Service) { s.Spec.Labels = map[string]string{rebalance.Label: rebalance.Auto} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := ct.NewStore(t)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- leader.New(st, slog.New(slog.DiscardHandler), leader.Config{}).Run(ctx) }()
				t.Cleanup(func() { cancel(); <-done })
				settle := func() {
					for range 50 {
						time.Sleep(time.Second)
						if !agents(t, st) {
							return
						}
					}
					t.Fatal("tasks still moving after 50 rounds")
				}

				svc := ct.Service("svc", "web", 4, func(s *store.Service) {
					s.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Order: tt.order}
				})
				ct.Put(t, st, ct.Node("n1"), svc)
				settle()
				ct.Put(t, st, ct.Node("n2"))
				settle()
				if diff := cmp.Diff(map[string]int{"n1": 4}, running(st)); diff != "" {
					t.Fatalf("before the rebalance (-want +got):\n%s", diff)
				}

				var cur store.Service
				st.View(func(tx store.ReadTx) { cur = *store.Get[*store.Service](tx, "svc") })
				if tt.ask {
					cur.Rebalance = &store.RebalanceStatus{State: store.RebalanceActive, StartedAt: time.Now()}
				}
				if tt.mod != nil {
					tt.mod(&cur)
				}
				ct.Put(t, st, &cur)
				settle()
				if diff := cmp.Diff(map[string]int{"n1": 2, "n2": 2}, running(st)); diff != "" {
					t.Errorf("after the rebalance (-want +got):\n%s", diff)
				}
				st.View(func(tx store.ReadTx) { cur = *store.Get[*store.Service](tx, "svc") })
				if tt.ask && (cur.Rebalance.State != store.RebalanceCompleted || cur.Rebalance.Moved != 2) {
					t.Errorf("got rebalance status %+v, want completed after 2 moves", cur.Rebalance)
				}
			})
		})
	}
}
