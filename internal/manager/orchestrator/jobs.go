package orchestrator

import (
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
)

// A job runs once per spec version: its JobIteration is the service's
// SpecVersion, so any spec change (ForceUpdate included) runs it again.
// Tasks of earlier runs still running are shut down.

// currentRun returns the tasks of svc's current run, shuts down the live
// tasks of earlier runs, and records the run in the service's JobStatus.
func (d *decider) currentRun(svc *store.Service, tasks []*store.Task) []*store.Task {
	d.whole = map[slotKey][]*store.Task{}
	var cur []*store.Task
	for _, t := range tasks {
		k := slotKey{n: t.Slot}
		if t.Slot == 0 || IsGlobal(svc) {
			k = slotKey{node: t.NodeID}
		}
		d.whole[k] = append(d.whole[k], t)
		if t.JobIteration != nil && t.JobIteration.Index == svc.SpecVersion {
			cur = append(cur, t)
		} else if controller.Live(t) {
			d.put(withDesired(t, swarm.TaskStateShutdown))
		}
	}
	if js := svc.JobStatus; js == nil || js.JobIteration.Index != svc.SpecVersion {
		c := *svc
		c.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: svc.SpecVersion}, LastExecution: d.in.Now}
		d.res.Changes = append(d.res.Changes, controller.Change{Services: []*store.Service{&c}})
	}
	return cur
}

// JobCounts returns a replicated job's MaxConcurrent (default 1) and
// TotalCompletions (default MaxConcurrent).
func JobCounts(svc *store.Service) (maxConcurrent, total int) {
	maxConcurrent = 1
	j := svc.Spec.Mode.ReplicatedJob
	if j == nil {
		return maxConcurrent, maxConcurrent
	}
	if j.MaxConcurrent != nil {
		maxConcurrent = int(min(*j.MaxConcurrent, 1<<31))
	}
	total = maxConcurrent
	if j.TotalCompletions != nil {
		total = int(min(*j.TotalCompletions, 1<<31))
	}
	return maxConcurrent, total
}

// replicatedJob runs slots 1..TotalCompletions, at most MaxConcurrent at a
// time. A slot is done when its task completed, or when it failed and the
// restart policy gave up on it.
func (d *decider) replicatedJob(svc *store.Service, tasks []*store.Task) {
	maxConcurrent, total := JobCounts(svc)
	taken := map[int]bool{}
	active := 0
	for _, s := range Slots(svc, d.currentRun(svc, tasks)) {
		if s.Number < 1 || s.Number > total {
			d.removeSlot(svc, s)
			continue
		}
		if !occupied(s) {
			continue
		}
		taken[s.Number] = true
		if running(s) {
			active++
		}
		d.tend(svc, s, true, true, true)
	}
	// Slots 1..total not taken are free: those beyond were removed above.
	d.want(min(maxConcurrent-active, total-len(taken)), func(k int) {
		for n := 1; k > 0 && n <= total; n++ {
			if taken[n] {
				continue
			}
			d.inSlot(svc, Slot{Number: n}, d.newTask(svc, n, "", swarm.TaskStateRunning))
			k--
		}
	})
}

// running reports whether a job slot still has a task at work.
func running(s Slot) bool {
	for _, t := range s.Tasks {
		if controller.Live(t) && t.Status.State != swarm.TaskStateComplete {
			return true
		}
	}
	return false
}

// globalJob runs the job once on every eligible node, including nodes that
// join later. A node that stops being eligible loses its running task but
// keeps its finished ones, so that draining and reactivating a node does
// not run the job on it again.
func (d *decider) globalJob(svc *store.Service, tasks []*store.Task) {
	fits := eligible(svc)
	have := map[string]Slot{}
	for _, s := range Slots(svc, d.currentRun(svc, tasks)) {
		have[s.NodeID] = s
		if keep, _ := fits(d.nodes[s.NodeID]); !keep {
			var out []*store.Task
			for _, t := range s.Tasks {
				if controller.Live(t) {
					out = append(out, withDesired(t, swarm.TaskStateRemove))
				}
			}
			if len(out) > 0 {
				d.inSlot(svc, s, out...)
			}
			continue
		}
		if occupied(s) {
			d.tend(svc, s, true, false, false)
		}
	}
	d.startOnNodes(svc, have, fits)
}
