package leader_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/controller/leader"
	"github.com/shoal-project/shoal/internal/store"
)

// BenchmarkPlace measures the controllers end to end on a store without
// raft: from creating services to every task assigned. tasks/s is the
// number to watch.
func BenchmarkPlace(b *testing.B) {
	for _, c := range []struct{ nodes, services, replicas int }{
		{1000, 10, 1000},
		{1000, 100, 1000},
	} {
		b.Run(fmt.Sprintf("nodes=%d/tasks=%d", c.nodes, c.services*c.replicas), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				st := ct.NewStore(b)
				var objs []any
				for i := range c.nodes {
					objs = append(objs, ct.Node(fmt.Sprintf("node%04d", i)))
				}
				ct.Put(b, st, objs...)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- leader.New(st, quiet(), leader.Config{}).Run(ctx) }()
				b.StartTimer()
				objs = objs[:0]
				for i := range c.services {
					objs = append(objs, ct.Service(fmt.Sprintf("svc%03d", i), fmt.Sprintf("web%d", i), uint64(c.replicas)))
				}
				ct.Put(b, st, objs...)
				for {
					assigned := 0
					st.View(func(tx store.ReadTx) {
						for _, t := range store.All[*store.Task](tx) {
							if t.Status.State == swarm.TaskStateAssigned {
								assigned++
							}
						}
					})
					if assigned == c.services*c.replicas {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				b.StopTimer()
				cancel()
				<-done
				b.StartTimer()
			}
			b.ReportMetric(float64(c.services*c.replicas)*float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
