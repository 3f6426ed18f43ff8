package orchestrator

import (
	"fmt"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

func BenchmarkSlots(b *testing.B) {
	svc := &store.Service{}
	var tasks []*store.Task
	for i := range 1000 {
		tasks = append(tasks, &store.Task{Task: swarm.Task{ID: fmt.Sprintf("t%05d", (i*7919)%1000), Slot: (i*7919)%1000 + 1}})
	}
	for b.Loop() {
		Slots(svc, tasks)
	}
}
