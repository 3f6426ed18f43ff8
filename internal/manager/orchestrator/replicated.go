package orchestrator

import (
	"cmp"
	"slices"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// Replicas returns how many tasks a replicated service wants (Docker's
// default is 1).
func Replicas(svc *store.Service) int {
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return int(min(*r.Replicas, 1<<31))
	}
	return 1
}

// replicated keeps N taken slots. Extra slots are removed, those without a
// running task first, then the highest; missing ones are started in the
// lowest free slot numbers.
func (d *decider) replicated(svc *store.Service, tasks []*store.Task) {
	want := Replicas(svc)
	slots := Slots(svc, tasks)
	taken := make([]Slot, 0, len(slots))
	byNumber := make(map[int]int, len(slots)) // index in slots
	for i, s := range slots {
		byNumber[s.Number] = i
		switch {
		case s.Number == 0:
			// A task without a slot does not belong to a replicated
			// service.
			d.removeSlot(svc, s)
		case occupied(s):
			taken = append(taken, s)
		}
	}
	if extra := len(taken) - want; extra > 0 {
		slices.SortStableFunc(taken, func(a, b Slot) int {
			return cmp.Or(cmp.Compare(runs(a), runs(b)), cmp.Compare(b.Number, a.Number))
		})
		for _, s := range taken[:extra] {
			d.removeSlot(svc, s)
		}
		taken = taken[extra:]
	}
	used := make(map[int]bool, len(taken))
	for _, s := range taken {
		used[s.Number] = true
		d.tend(svc, s, false, true, true)
	}
	// Missing slots start in the lowest free numbers, as many as the
	// pass's budget gives this service.
	d.want(want-len(taken), func(k int) {
		for n := 1; k > 0; n++ {
			if used[n] {
				continue
			}
			s := Slot{Number: n}
			if i, ok := byNumber[n]; ok {
				s = slots[i]
			}
			d.inSlot(svc, s, d.newTask(svc, n, "", swarm.TaskStateRunning))
			k--
		}
	})
}

// runs is 1 when a slot has a task running as wanted, so that slots
// without one sort first.
func runs(s Slot) int {
	for _, t := range s.Tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			return 1
		}
	}
	return 0
}
