// Package orchestrator keeps the tasks of every service what its spec
// asks for: N slots of a replicated service, one task per eligible node of
// a global one, jobs run to their completions. It also supervises
// restarts: a task that ends while meant to run is shut down and, when its
// restart policy allows, replaced in the same slot.
//
// Decide is a pure function over a store snapshot and the time; the
// Orchestrator runner applies its result.
package orchestrator

import (
	"cmp"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/manager/restart"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// DefaultBudget is the most tasks one pass creates, and the most it marks
// for removal when scaling down or removing services: a count of many
// tasks converges over several passes, each a bounded batch, instead of
// one pass whose memory grows with a number in a spec. It is one store
// update's worth (controller.MaxBatch).
const DefaultBudget = controller.MaxBatch

// Input is what the orchestrator decides from.
type Input struct {
	controller.Snapshot
	Now   time.Time
	NewID func() string // identity.NewID when nil
	// Budget bounds the tasks a pass creates, and separately those it
	// marks for removal (DefaultBudget when zero). Restarts of tasks
	// that exist are not counted: they are bounded by the state.
	Budget int
}

// Result is what the orchestrator decided.
type Result struct {
	Changes []controller.Change
	// Next is when a decision will be due without any event (a restart
	// delay ending, or Now when the budget left work for the next
	// pass), or zero.
	Next time.Time
}

// Decide returns the changes that move every service's tasks towards its
// spec.
func Decide(in Input) Result {
	if in.NewID == nil {
		in.NewID = identity.NewID
	}
	if in.Budget <= 0 {
		in.Budget = DefaultBudget
	}
	d := &decider{in: in, nodes: IndexNodes(in.Nodes), removals: in.Budget}
	byService := map[string][]*store.Task{}
	for _, t := range in.Tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	for _, svc := range in.Services {
		tasks := byService[svc.ID]
		delete(byService, svc.ID)
		d.whole = nil
		if err := in.Unservable(svc); err != nil {
			d.unservable(svc, tasks, err)
			continue
		}
		tasks = d.served(svc, tasks)
		switch m := svc.Spec.Mode; {
		case m.Global != nil:
			d.global(svc, tasks)
		case m.ReplicatedJob != nil:
			d.replicatedJob(svc, tasks)
		case m.GlobalJob != nil:
			d.globalJob(svc, tasks)
		default:
			d.replicated(svc, tasks)
		}
	}
	// What is left belongs to services that were removed.
	// Plain containers' network attachments have no service.
	delete(byService, "")
	for _, t := range in.Tasks {
		if _, orphan := byService[t.ServiceID]; orphan && t.DesiredState != swarm.TaskStateRemove && d.mayRemove(1) {
			d.put(withDesired(t, swarm.TaskStateRemove))
		}
	}
	d.startAll()
	return d.res
}

type decider struct {
	in    Input
	nodes Nodes
	res   Result
	// whole holds every task of each slot of the job service being
	// decided, older runs included: slot guards must name them all,
	// while the decisions look at the current run only. Nil otherwise.
	whole map[slotKey][]*store.Task
	// starts are the services' wants of new tasks, met once every
	// service has said its own, within the budget.
	starts []start
	// removals is how many more tasks this pass may mark for removal.
	removals int
}

// start is one service's want of new tasks: it wants n, and create
// creates the first k of them, guarded as whole says (decider.whole when
// the want was made).
type start struct {
	n      int
	create func(k int)
	whole  map[slotKey][]*store.Task
}

// want records that the service being decided wants n new tasks, made by
// mk.
func (d *decider) want(n int, mk func(k int)) {
	if n > 0 {
		d.starts = append(d.starts, start{n: n, create: mk, whole: d.whole})
	}
}

// startAll shares the budget among the services that want new tasks and
// creates their share. A pass that could not create them all is followed
// by another at once.
func (d *decider) startAll() {
	wants := make([]int, len(d.starts))
	for i, s := range d.starts {
		wants[i] = s.n
	}
	for i, k := range Share(wants, d.in.Budget) {
		if k > 0 {
			d.whole = d.starts[i].whole
			d.starts[i].create(k)
		}
		if k < wants[i] {
			d.wakeAt(d.in.Now)
		}
	}
}

// Share divides budget among wants so that no want gets more than it
// asks, and a want that gets less than it asks gets at least as much as
// any other (max-min fairness): many small services are served whole in
// one pass beside a huge one, which gets what is left.
func Share(wants []int, budget int) []int {
	order := make([]int, len(wants))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(wants[a], wants[b]) })
	out := make([]int, len(wants))
	left := max(budget, 0)
	for i, w := range order {
		out[w] = min(max(wants[w], 0), left/(len(order)-i))
		left -= out[w]
	}
	return out
}

// mayRemove reports whether n more tasks may be marked for removal in
// this pass, and counts them when so; when not, the next pass comes at
// once.
// A slot goes whole, so the first of a pass goes whatever its size: a
// slot larger than the budget is still removed.
func (d *decider) mayRemove(n int) bool {
	if n > d.removals && d.removals < d.in.Budget {
		d.removals = 0
		d.wakeAt(d.in.Now)
		return false
	}
	d.removals = max(d.removals-n, 0)
	return true
}

type slotKey struct {
	n    int
	node string
}

func (d *decider) put(tasks ...*store.Task) {
	d.res.Changes = append(d.res.Changes, controller.Change{Tasks: tasks})
}

// inSlot adds a change to a slot, guarded by the slot's tasks.
func (d *decider) inSlot(svc *store.Service, s Slot, tasks ...*store.Task) {
	d.res.Changes = append(d.res.Changes, controller.Change{
		Tasks: tasks,
		Slots: []controller.SlotGuard{controller.Guard(svc.ID, s.Number, s.NodeID, d.guarded(s))},
	})
}

func (d *decider) guarded(s Slot) []*store.Task {
	if d.whole == nil {
		return s.Tasks
	}
	return d.whole[slotKey{s.Number, s.NodeID}]
}

func (d *decider) wakeAt(t time.Time) {
	if d.res.Next.IsZero() || t.Before(d.res.Next) {
		d.res.Next = t
	}
}

func (d *decider) newTask(svc *store.Service, slot int, nodeID string, desired swarm.TaskState) *store.Task {
	return NewTask(d.in.NewID(), svc, d.in.Cluster, slot, nodeID, desired, d.in.Now)
}

// removeSlot gives every task of a slot DesiredState remove, if the
// removal budget allows.
func (d *decider) removeSlot(svc *store.Service, s Slot) {
	n := 0
	for _, t := range s.Tasks {
		if t.DesiredState != swarm.TaskStateRemove {
			n++
		}
	}
	if n == 0 || !d.mayRemove(n) {
		return
	}
	out := make([]*store.Task, 0, n)
	for _, t := range s.Tasks {
		if t.DesiredState != swarm.TaskStateRemove {
			out = append(out, withDesired(t, swarm.TaskStateRemove))
		}
	}
	d.inSlot(svc, s, out...)
}

// occupied reports whether a slot is taken: it holds a task that is not
// being removed. A slot whose last task ended and was not restarted stays
// taken, so the service does not start a new task in its place; only a
// spec change (the updater) runs it again.
func occupied(s Slot) bool {
	for _, t := range s.Tasks {
		if t.DesiredState != swarm.TaskStateRemove {
			return true
		}
	}
	return false
}

// tend keeps one taken slot: tasks that ended while meant to run are shut
// down (or marked complete, for jobs) and replaced when the restart policy
// allows; a replacement held at ready starts once the rest of its slot
// has stopped and its restart delay is over. lostIsEnded says whether a
// task on a down node counts as ended (replicated services), rather than
// being handled with its node (global ones); drainMoves says whether a
// task on a drained node moves elsewhere.
func (d *decider) tend(svc *store.Service, s Slot, job, lostIsEnded, drainMoves bool) {
	policy := restart.PolicyOf(svc.Spec.TaskTemplate)
	var changed []*store.Task
	var ended []*store.Task
	drained, live := false, 0
	for _, t := range s.Tasks {
		if !controller.Live(t) {
			continue
		}
		live++
		if t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		switch {
		case job && t.Status.State == swarm.TaskStateComplete:
			changed = append(changed, withDesired(t, swarm.TaskStateComplete))
		case taskstate.Terminal(t.Status.State) || (lostIsEnded && d.nodes.Lost(t)):
			changed = append(changed, withDesired(t, swarm.TaskStateShutdown))
			ended = append(ended, t)
		case drainMoves && d.drained(t):
			changed = append(changed, withDesired(t, swarm.TaskStateShutdown))
			drained = true
		default:
			continue
		}
	}
	if len(changed) > 0 {
		if live == len(changed) {
			// Nothing else runs in the slot: replace what stopped.
			switch {
			case drained:
				changed = append(changed, d.newTask(svc, s.Number, s.NodeID, swarm.TaskStateRunning))
			case len(ended) > 0:
				if e := Newest(ended); policy.Allows(e, s.Tasks, job, d.in.Now) {
					desired := swarm.TaskStateRunning
					if policy.DelayAfter(d.nodes.StopCause(e)) > 0 {
						desired = swarm.TaskStateReady
					}
					changed = append(changed, d.newTask(svc, s.Number, s.NodeID, desired))
				}
			}
		}
		d.inSlot(svc, s, changed...)
		return
	}
	d.promote(svc, s, policy)
}

// promote starts a replacement held at ready once the other tasks of its
// slot have stopped and, when it replaces a task that ended by itself, the
// restart delay has passed since it was created.
func (d *decider) promote(svc *store.Service, s Slot, policy restart.Policy) {
	for _, t := range s.Tasks {
		if t.DesiredState != swarm.TaskStateReady {
			continue
		}
		var others []*store.Task
		for _, o := range s.Tasks {
			if o == t {
				continue
			}
			if !d.nodes.Stopped(o) {
				return // wait for it to stop; its report wakes us
			}
			others = append(others, o)
		}
		// From its creation, not its status: a replacement may move
		// on (be placed, prepared) while it waits.
		at := t.CreatedAt
		if prev := Newest(others); prev != nil {
			at = at.Add(policy.DelayAfter(d.nodes.StopCause(prev)))
		}
		if d.in.Now.Before(at) {
			d.wakeAt(at)
			return
		}
		d.inSlot(svc, s, withDesired(t, swarm.TaskStateRunning))
		return
	}
}

func (d *decider) drained(t *store.Task) bool {
	n := d.nodes[t.NodeID]
	return n != nil && n.Spec.Availability == swarm.NodeAvailabilityDrain
}
