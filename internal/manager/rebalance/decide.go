package rebalance

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/manager/scheduler"
	"github.com/shoal-project/shoal/internal/manager/updater"
	"github.com/shoal-project/shoal/internal/store"
)

// Input is what the rebalancer decides from.
type Input struct {
	controller.Snapshot
	Now   time.Time
	NewID func() string // identity.NewID when nil
}

// Result is what the rebalancer decided.
type Result struct {
	Changes []controller.Change
	// Next is when a batch will be due without any event (a delay
	// ending), or zero.
	Next time.Time
}

// Move is one task the scheduler would now place on a less loaded node.
type Move struct {
	Task     *store.Task
	From, To string // node IDs
}

// MaxMoves bounds the moves of a service in one batch, whatever its
// parallelism (0 is all at once): each move asks the scheduler about the
// whole cluster, so a batch costs that many scheduler passes.
const MaxMoves = 100

// MessageMoved is the status message of a task replaced by a move.
const MessageMoved = "rebalanced to another node"

// Decide starts the next batch of moves of every service being rebalanced,
// finishes start-first moves whose new task runs, and completes requested
// rebalances that have nothing left to move.
func Decide(in Input) Result {
	if in.NewID == nil {
		in.NewID = identity.NewID
	}
	byService := map[string][]*store.Task{}
	for _, svc := range in.Services {
		if Wanted(svc) && in.Unservable(svc) == nil {
			byService[svc.ID] = nil
		}
	}
	if len(byService) == 0 {
		return Result{} // the common case: a pass costs one look at the services
	}
	for _, t := range in.Tasks {
		if ts, ok := byService[t.ServiceID]; ok && !orchestrator.IsMark(t) {
			byService[t.ServiceID] = append(ts, t)
		}
	}
	var res Result
	for _, svc := range in.Services {
		if _, ok := byService[svc.ID]; !ok {
			continue
		}
		changes, next := decideService(in, svc, byService[svc.ID])
		res.Changes = append(res.Changes, changes...)
		if !next.IsZero() && (res.Next.IsZero() || next.Before(res.Next)) {
			res.Next = next
		}
	}
	return res
}

func decideService(in Input, svc *store.Service, tasks []*store.Task) ([]controller.Change, time.Time) {
	slots := orchestrator.Slots(svc, tasks)
	if retired := retire(svc, slots, in.Now); len(retired) > 0 {
		return retired, time.Time{}
	}
	if u := svc.UpdateStatus; u != nil && (u.State == swarm.UpdateStateUpdating || u.State == swarm.UpdateStateRollbackStarted) {
		return nil, time.Time{} // the updater owns the slots meanwhile
	}
	if !Settled(svc, tasks) {
		return nil, time.Time{} // the batch in flight must end first
	}
	lastRun := time.Time{}
	for _, s := range slots {
		if t, ok := settledTask(s); ok && t.Status.Timestamp.After(lastRun) {
			lastRun = t.Status.Timestamp
		}
	}
	cfg := updater.ConfigOf(svc.Spec.UpdateConfig)
	if due := lastRun.Add(cfg.Delay); cfg.Delay > 0 && in.Now.Before(due) {
		return nil, due
	}
	limit := MaxMoves
	if cfg.Parallelism > 0 {
		limit = min(cfg.Parallelism, MaxMoves)
	}
	moves := Plan(in.Snapshot, svc, in.Now, limit)
	if len(moves) == 0 {
		if svc.Rebalance != nil && svc.Rebalance.State == store.RebalanceActive {
			c := *svc
			st := *svc.Rebalance
			st.State, st.CompletedAt, st.Message = store.RebalanceCompleted, in.Now, "tasks spread as the scheduler would place them"
			c.Rebalance = &st
			return []controller.Change{{Services: []*store.Service{&c}}}, time.Time{}
		}
		return nil, time.Time{}
	}
	var out []controller.Change
	for _, m := range moves {
		out = append(out, moveChange(in, svc, slots, m, cfg.Order))
	}
	if svc.Rebalance != nil && svc.Rebalance.State == store.RebalanceActive {
		// Counted in a change of its own, so that one stale slot does
		// not hold up the others.
		c := *svc
		st := *svc.Rebalance
		st.Moved += len(moves)
		st.Message = fmt.Sprintf("moved %d tasks", st.Moved)
		c.Rebalance = &st
		out = append(out, controller.Change{Services: []*store.Service{&c}})
	}
	return out, time.Time{}
}

// moveChange replaces m.Task by a new task in the same slot.
func moveChange(in Input, svc *store.Service, slots []orchestrator.Slot, m Move, order swarm.UpdateOrder) controller.Change {
	i := slices.IndexFunc(slots, func(s orchestrator.Slot) bool { return s.Number == m.Task.Slot })
	desired := swarm.TaskStateRunning
	var tasks []*store.Task
	if order != swarm.UpdateOrderStartFirst {
		old := *m.Task
		old.DesiredState = swarm.TaskStateShutdown
		old.Status.Message = MessageMoved
		tasks = append(tasks, &old)
		// Held until the old task has stopped; the orchestrator then
		// starts it.
		desired = swarm.TaskStateReady
	}
	tasks = append(tasks, orchestrator.NewTask(in.NewID(), svc, in.Cluster, m.Task.Slot, "", desired, in.Now))
	return controller.Change{
		Tasks: tasks,
		Slots: []controller.SlotGuard{controller.Guard(svc.ID, m.Task.Slot, "", slots[i].Tasks)},
	}
}

// retire ends start-first moves: in a slot whose live tasks are all meant
// to run and up to date, once the newest runs, the others stop.
func retire(svc *store.Service, slots []orchestrator.Slot, now time.Time) []controller.Change {
	var out []controller.Change
	for _, s := range slots {
		var live []*store.Task
		for _, t := range s.Tasks {
			if controller.Live(t) {
				live = append(live, t)
			}
		}
		if len(live) < 2 {
			continue
		}
		newest := orchestrator.Newest(live)
		if newest.Status.State != swarm.TaskStateRunning {
			continue
		}
		var stop []*store.Task
		for _, t := range live {
			if t.DesiredState != swarm.TaskStateRunning || t.SpecVersion != svc.SpecVersion {
				stop = nil // not a move of ours: an update's, left to the updater
				break
			}
			if t != newest {
				c := *t
				c.DesiredState = swarm.TaskStateShutdown
				c.Status.Message = MessageMoved
				stop = append(stop, &c)
			}
		}
		if len(stop) > 0 {
			out = append(out, controller.Change{Tasks: stop, Slots: []controller.SlotGuard{controller.Guard(svc.ID, s.Number, s.NodeID, s.Tasks)}})
		}
	}
	return out
}

// settledTask returns the slot's only live task when it runs as wanted.
func settledTask(s orchestrator.Slot) (*store.Task, bool) {
	var only *store.Task
	for _, t := range s.Tasks {
		if !controller.Live(t) {
			continue
		}
		if only != nil {
			return nil, false
		}
		only = t
	}
	ok := only != nil && only.DesiredState == swarm.TaskStateRunning && only.Status.State == swarm.TaskStateRunning && only.Slot > 0
	return only, ok
}

// Settled reports whether every slot of svc that holds a task meant to run
// has exactly one, running: no move, update or restart is in flight, so a
// plan that finds no move means the tasks are spread.
func Settled(svc *store.Service, tasks []*store.Task) bool {
	for _, s := range orchestrator.Slots(svc, tasks) {
		if _, ok := settledTask(s); !ok && hasLive(s) {
			return false
		}
	}
	return true
}

func hasLive(s orchestrator.Slot) bool {
	return slices.ContainsFunc(s.Tasks, controller.Live)
}

// probeID names the task the scheduler is asked to place in Plan.
const probeID = "rebalance-probe"

// Plan returns up to limit moves (all it finds when limit is 0) that
// would spread svc's running tasks better, each decided on the state the
// moves before it leave: the scheduler places a replacement of a task on
// the most loaded node, and the move stands when the replacement lands on
// a node with at least two fewer of the service's tasks.
func Plan(s controller.Snapshot, svc *store.Service, now time.Time, limit int) []Move {
	if !Rebalanceable(svc) {
		return nil
	}
	if limit <= 0 {
		limit = len(s.Tasks)
	}
	work := slices.Clone(s.Tasks)
	moved := map[string]bool{} // tasks placed by an earlier move of this plan
	var out []Move
	for len(out) < limit {
		m, next, ok := nextMove(s, svc, work, moved, now)
		if !ok {
			break
		}
		out = append(out, m)
		work = next
	}
	return out
}

// maxTries bounds the loaded nodes a plan step asks the scheduler about.
const maxTries = 3

func nextMove(s controller.Snapshot, svc *store.Service, tasks []*store.Task, moved map[string]bool, now time.Time) (Move, []*store.Task, bool) {
	counts := map[string]int{}
	movable := map[string]*store.Task{} // by node: the task to move from it
	for _, t := range tasks {
		if t.ServiceID != svc.ID || t.NodeID == "" || !controller.OnNode(t) || t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		counts[t.NodeID]++
		if t.Status.State == swarm.TaskStateRunning && t.Slot > 0 && !moved[t.ID] {
			if cur := movable[t.NodeID]; cur == nil || t.Slot > cur.Slot {
				movable[t.NodeID] = t
			}
		}
	}
	// The least loaded node the service may run on bounds what a move can
	// gain; resources and the like are the scheduler's to judge below.
	least := -1
	for _, n := range s.Nodes {
		if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive || !scheduler.NodeMatches(svc.Spec.TaskTemplate, &n.Node) {
			continue
		}
		if c := counts[n.ID]; least < 0 || c < least {
			least = c
		}
	}
	var sources []string
	for id := range movable {
		sources = append(sources, id)
	}
	slices.SortFunc(sources, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	for i, from := range sources {
		if i == maxTries || counts[from]-least < 2 {
			break
		}
		t := movable[from]
		probe := orchestrator.NewTask(probeID, svc, s.Cluster, t.Slot, "", swarm.TaskStateRunning, now)
		probe.Status.State = swarm.TaskStatePending // as the allocator hands tasks to the scheduler
		trial := make([]*store.Task, 0, len(tasks))
		for _, o := range tasks {
			if o != t {
				trial = append(trial, o)
			}
		}
		trial = append(trial, probe)
		snap := s
		snap.Tasks = trial
		to := ""
		for _, p := range scheduler.Decide(scheduler.Input{Snapshot: snap, Now: now}).Tasks {
			if p.ID == probeID && p.Status.State == swarm.TaskStateAssigned {
				to = p.NodeID
			}
		}
		if to == "" || counts[from]-counts[to] < 2 {
			continue
		}
		// The replacement, as if it ran there already, for the next step.
		placed := *probe
		placed.ID = "rebalance-" + t.ID
		placed.NodeID = to
		placed.Status.State = swarm.TaskStateRunning
		trial[len(trial)-1] = &placed
		moved[placed.ID] = true
		return Move{Task: t, From: from, To: to}, trial, true
	}
	return Move{}, nil, false
}
