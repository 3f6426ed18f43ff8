// Package updater rolls a service's tasks to its current spec, slot by
// slot: Parallelism slots at a time, Delay between them, stopping the old
// task first or starting the new one first, watching each new task for
// Monitor and pausing, continuing or rolling back when too many fail. A
// rollback (UpdateStatus rollback_started, set by the API or by the
// updater itself) is the same walk with the RollbackConfig.
//
// Decide is a pure function over a store snapshot, the time and what the
// updater saw running; the runner from New applies its result.
package updater

import (
	"cmp"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/store"
)

// Messages of UpdateStatus, as Docker writes them.
const (
	MessageUpdating          = "update in progress"
	MessageCompleted         = "update completed"
	MessagePaused            = "update paused due to failure or early termination of task "
	MessageRolledBack        = "update rolled back due to failure or early termination of task "
	MessageRollbackCompleted = "rollback completed"
	MessageRollbackPaused    = "rollback paused due to failure or early termination of task "
)

// Input is what the updater decides from.
type Input struct {
	controller.Snapshot
	Now   time.Time
	NewID func() string // identity.NewID when nil
	// Seen maps task IDs to when they started running, as far as this
	// updater saw; Since is when it started watching. A task that ended
	// without being seen running counts as failed only if it ended after
	// Since.
	Seen  map[string]time.Time
	Since time.Time
	// StartTimeout is how long after Monitor a new task may take to reach
	// running (DefaultStartTimeout when zero).
	StartTimeout time.Duration
	// Budget bounds the slots a pass starts to update, over all services
	// (orchestrator.DefaultBudget when zero): an update of every slot at
	// once (parallelism 0) of a large service goes in batches.
	Budget int
}

// Result is what the updater decided.
type Result struct {
	Changes []controller.Change
	// Next is when a decision will be due without any event (a delay or
	// a monitor window ending, or Now when the budget left slots to
	// start), or zero.
	Next time.Time
	// budget is how many more slots this pass may start.
	budget int
}

// Decide returns the next steps of every update and rollback in progress.
func Decide(in Input) Result {
	if in.NewID == nil {
		in.NewID = identity.NewID
	}
	if in.StartTimeout <= 0 {
		in.StartTimeout = DefaultStartTimeout
	}
	if in.Budget <= 0 {
		in.Budget = orchestrator.DefaultBudget
	}
	res := Result{budget: in.Budget}
	nodes := orchestrator.IndexNodes(in.Nodes)
	byService := map[string][]*store.Task{}
	for _, t := range in.Tasks {
		if !orchestrator.IsMark(t) {
			byService[t.ServiceID] = append(byService[t.ServiceID], t)
		}
	}
	for _, svc := range in.Services {
		if orchestrator.IsJob(svc) {
			continue // a job runs again on a spec change instead
		}
		if in.Unservable(svc) != nil {
			continue // the orchestrator marks it; nothing of it moves
		}
		u := &update{in: in, res: &res, svc: svc, nodes: nodes, check: orchestrator.NewSpecCheck(svc, in.Cluster)}
		u.decide(byService[svc.ID])
	}
	return res
}

// update decides for one service.
type update struct {
	in    Input
	res   *Result
	svc   *store.Service
	nodes orchestrator.Nodes
	check *orchestrator.SpecCheck
	mark  int // where this service's changes begin in res
}

func (u *update) rollback() bool {
	s := u.svc.UpdateStatus
	return s != nil && s.State == swarm.UpdateStateRollbackStarted
}

func (u *update) config() Config {
	if u.rollback() {
		return ConfigOf(u.svc.Spec.RollbackConfig)
	}
	return ConfigOf(u.svc.Spec.UpdateConfig)
}

// slotState is where one slot stands in the update.
type slotState struct {
	slot     orchestrator.Slot
	outdated bool          // still to update
	old      []*store.Task // live tasks of an older spec
	fresh    []*store.Task // live up-to-date tasks made by this update
	verdicts []verdict     // of every up-to-date task made by this update
	failed   []*store.Task // those judged failed
	retiring bool          // its old tasks are being stopped this pass
}

func (u *update) decide(tasks []*store.Task) {
	u.mark = len(u.res.Changes)
	status := u.svc.UpdateStatus
	if u.canaryOvertaken() {
		return
	}
	holding := u.holding()
	slots := u.trim(u.slots(tasks))
	if !holding {
		u.retire(slots)
	}
	if status != nil && (status.State == swarm.UpdateStatePaused || status.State == swarm.UpdateStateRollbackPaused) {
		return // until the next spec change
	}
	inProgress := status != nil && (status.State == swarm.UpdateStateUpdating || status.State == swarm.UpdateStateRollbackStarted)
	if !inProgress {
		for _, s := range slots {
			if s.outdated {
				msg := MessageUpdating
				if holding {
					msg = u.canaryMessage(0)
				}
				u.setStatus(swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &u.in.Now, Message: msg})
				return
			}
		}
		return
	}
	cfg := u.config()
	var next time.Time
	m := &monitor{now: u.in.Now, cfg: cfg, startTimeout: u.in.StartTimeout, seen: u.in.Seen, since: u.in.Since, next: &next}
	started := time.Time{}
	if status.StartedAt != nil {
		started = *status.StartedAt
	}
	if holding {
		u.canary(slots, cfg, m, started, tasks)
		u.wake(next)
		return
	}
	failures, inFlight, watching := 0, 0, false
	var lastFailed *store.Task
	var waiting []*slotState
	for _, s := range slots {
		u.judge(s, m, started)
		failures += len(s.failed)
		for _, f := range s.failed {
			lastFailed = later(lastFailed, f)
		}
		if s.outdated {
			waiting = append(waiting, s)
			continue
		}
		if u.flying(s, cfg, m) {
			inFlight++
		}
		if len(s.failed) > 0 {
			continue // decided: its restarts are the orchestrator's
		}
		for _, v := range s.verdicts {
			if v == starting || v == running {
				watching = true
			}
		}
	}
	if failures > 0 && float32(failures)/float32(max(len(slots), 1)) > cfg.MaxFailureRatio && cfg.FailureAction != swarm.UpdateFailureActionContinue {
		u.fail(cfg, lastFailed, tasks)
		return
	}
	u.wake(next)
	if len(waiting) == 0 && inFlight == 0 && !watching {
		u.complete()
		return
	}
	free := len(waiting)
	if cfg.Parallelism > 0 {
		free = min(free, cfg.Parallelism-inFlight)
	}
	slices.SortStableFunc(waiting, func(a, b *slotState) int { return cmp.Compare(runningOld(a), runningOld(b)) })
	for _, s := range waiting[:u.take(free)] {
		u.start(s, cfg)
	}
}

// take returns how many of n slots this pass may start, and counts them
// against its budget; slots it leaves wait for the next pass, at once.
func (u *update) take(n int) int {
	n = max(n, 0)
	if n > u.res.budget {
		n = u.res.budget
		u.wake(u.in.Now)
	}
	u.res.budget -= n
	return n
}

// slots sorts the service's tasks into slots and says which are out of
// date: those whose live tasks are all of an older spec, and those the
// restart policy gave up on (no live task) where no task has the current
// spec. A slot with live tasks of both (start-first) is being updated. A
// global service's slots on nodes that take no new tasks wait for the
// node: the new task could not start there.
func (u *update) slots(tasks []*store.Task) []*slotState {
	var out []*slotState
	for _, slot := range orchestrator.Slots(u.svc, tasks) {
		s := &slotState{slot: slot}
		taken, current, liveCurrent := false, false, false
		for _, t := range slot.Tasks {
			if t.DesiredState == swarm.TaskStateRemove {
				continue
			}
			taken = true
			up := u.check.UpToDate(t)
			current = current || up
			switch {
			case controller.Live(t) && up:
				liveCurrent = true
			case controller.Live(t):
				s.old = append(s.old, t)
			}
		}
		if !taken {
			continue
		}
		s.outdated = !liveCurrent && (len(s.old) > 0 || !current)
		if s.outdated && orchestrator.IsGlobal(u.svc) && !u.takesTasks(slot.NodeID) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// trim shuts down all but one of the old tasks of a slot that has no
// current one. A slot holds two old tasks when a start-first update was
// overtaken by the next spec change; the one kept is the running one, or
// else the newest. Trimmed slots wait for the next pass.
func (u *update) trim(slots []*slotState) []*slotState {
	out := slots[:0]
	for _, s := range slots {
		if !s.outdated || len(s.old) < 2 {
			out = append(out, s)
			continue
		}
		keep := orchestrator.Newest(s.old)
		for _, t := range s.old {
			if t.Status.State == swarm.TaskStateRunning && (keep.Status.State != swarm.TaskStateRunning || t.CreatedAt.After(keep.CreatedAt)) {
				keep = t
			}
		}
		var stop []*store.Task
		for _, t := range s.old {
			if t != keep {
				stop = append(stop, withDesired(t, swarm.TaskStateShutdown))
			}
		}
		u.inSlot(s.slot, stop...)
	}
	return out
}

// retire stops the old tasks of slots that run a current task: start-first
// leaves the old task running until the new one runs, and a rollback can
// find a slot already back at the spec it returns to. This holds even in
// a paused update: pausing stops new slots, not the ones under way.
func (u *update) retire(slots []*slotState) {
	for _, s := range slots {
		if s.outdated || len(s.old) == 0 {
			continue
		}
		runs := false
		for _, t := range s.slot.Tasks {
			if controller.Live(t) && t.Status.State == swarm.TaskStateRunning && u.check.UpToDate(t) {
				runs = true
			}
		}
		if !runs {
			continue
		}
		var stop []*store.Task
		for _, o := range s.old {
			stop = append(stop, withDesired(o, swarm.TaskStateShutdown))
		}
		u.inSlot(s.slot, stop...)
		s.retiring = true
	}
}

func (u *update) takesTasks(nodeID string) bool {
	n := u.nodes[nodeID]
	return n != nil && n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive
}

// judge fills in the verdicts on the slot's tasks made by this update
// (up to date, created since it started).
func (u *update) judge(s *slotState, m *monitor, started time.Time) {
	for _, t := range s.slot.Tasks {
		if t.DesiredState == swarm.TaskStateRemove || t.CreatedAt.Before(started) || !u.check.UpToDate(t) {
			continue
		}
		v := m.judge(t)
		s.verdicts = append(s.verdicts, v)
		if v == failed {
			s.failed = append(s.failed, t)
		}
		if controller.Live(t) {
			s.fresh = append(s.fresh, t)
		}
	}
}

// flying reports whether an updated slot still holds a parallelism unit:
// its new task has not started, or started less than Delay ago, or (start
// first) the old task is still to be stopped. A slot whose new task
// failed frees its unit, for the failure action to decide.
func (u *update) flying(s *slotState, cfg Config, m *monitor) bool {
	if len(s.fresh) == 0 {
		return false
	}
	t := orchestrator.Newest(s.fresh)
	if s.retiring {
		return true
	}
	if len(s.failed) > 0 {
		return false
	}
	if t.Status.State != swarm.TaskStateRunning || len(s.old) > 0 {
		return true
	}
	if until := t.Status.Timestamp.Add(cfg.Delay); u.in.Now.Before(until) {
		m.wake(until)
		return true
	}
	return false
}

// start updates one slot: stop-first shuts the old tasks down and holds
// the new one at ready until they have stopped (the orchestrator starts
// it then); start-first starts the new one beside them.
func (u *update) start(s *slotState, cfg Config) {
	nodeID := ""
	if orchestrator.IsGlobal(u.svc) {
		nodeID = s.slot.NodeID
	}
	desired := swarm.TaskStateRunning
	var changed []*store.Task
	if cfg.Order != swarm.UpdateOrderStartFirst {
		for _, o := range s.old {
			changed = append(changed, withDesired(o, swarm.TaskStateShutdown))
			if !u.nodes.Stopped(o) {
				desired = swarm.TaskStateReady
			}
		}
	}
	t := orchestrator.NewTask(u.in.NewID(), u.svc, u.in.Cluster, s.slot.Number, nodeID, desired, u.in.Now)
	u.inSlot(s.slot, append(changed, t)...)
}

// fail takes the failure action: pause, or roll back to the previous
// spec (a failing rollback pauses).
func (u *update) fail(cfg Config, task *store.Task, tasks []*store.Task) {
	switch {
	case u.rollback():
		u.setStatus(swarm.UpdateStatus{State: swarm.UpdateStateRollbackPaused, StartedAt: u.svc.UpdateStatus.StartedAt, Message: MessageRollbackPaused + task.ID})
	case cfg.FailureAction == swarm.UpdateFailureActionRollback && u.svc.PreviousSpec != nil:
		u.rollBack(MessageRolledBack+task.ID, tasks, nil)
	default:
		u.setStatus(swarm.UpdateStatus{State: swarm.UpdateStatePaused, StartedAt: u.svc.UpdateStatus.StartedAt, Message: MessagePaused + task.ID})
	}
}

// rollBack puts the service back at its previous spec, with a rollback
// status saying msg; edit, when set, changes the service further. The
// rollback's first steps go in the same change as the spec, so that the
// slots never wait a pass holding tasks of two specs that are both out of
// date.
func (u *update) rollBack(msg string, tasks []*store.Task, edit func(*store.Service)) {
	c := *u.svc
	c.Spec = *u.svc.PreviousSpec
	c.PreviousSpec = nil
	c.SpecVersion++
	c.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &u.in.Now, Message: msg}
	if edit != nil {
		edit(&c)
	}
	// What this pass decided for the spec being abandoned no longer
	// holds: the slots are judged again against the previous spec.
	u.res.Changes = u.res.Changes[:u.mark]
	steps := Result{budget: u.res.budget}
	back := &update{in: u.in, res: &steps, svc: &c, nodes: u.nodes, check: orchestrator.NewSpecCheck(&c, u.in.Cluster)}
	back.decide(tasks)
	u.res.budget = steps.budget
	all := controller.Change{Services: []*store.Service{&c}}
	for _, ch := range steps.Changes {
		all.Tasks = append(all.Tasks, ch.Tasks...)
		all.Slots = append(all.Slots, ch.Slots...)
		if len(ch.Services) > 0 {
			all.Services = ch.Services // the rollback is done already
		}
	}
	u.res.Changes = append(u.res.Changes, all)
	u.wake(steps.Next)
}

func (u *update) complete() {
	s := swarm.UpdateStatus{State: swarm.UpdateStateCompleted, StartedAt: u.svc.UpdateStatus.StartedAt, CompletedAt: &u.in.Now, Message: MessageCompleted}
	if u.rollback() {
		s.State, s.Message = swarm.UpdateStateRollbackCompleted, MessageRollbackCompleted
	}
	u.setStatus(s)
}

func (u *update) setStatus(s swarm.UpdateStatus) {
	c := *u.svc
	c.UpdateStatus = &s
	u.res.Changes = append(u.res.Changes, controller.Change{Services: []*store.Service{&c}})
}

func (u *update) inSlot(slot orchestrator.Slot, tasks ...*store.Task) {
	u.res.Changes = append(u.res.Changes, controller.Change{
		Tasks: tasks,
		Slots: []controller.SlotGuard{controller.Guard(u.svc.ID, slot.Number, slot.NodeID, slot.Tasks)},
	})
}

func (u *update) wake(at time.Time) {
	if !at.IsZero() && (u.res.Next.IsZero() || at.Before(u.res.Next)) {
		u.res.Next = at
	}
}

// runningOld is 1 when a slot's old task runs, so that slots whose task
// is broken anyway are updated first.
func runningOld(s *slotState) int {
	for _, t := range s.old {
		if t.Status.State == swarm.TaskStateRunning {
			return 1
		}
	}
	return 0
}

func withDesired(t *store.Task, s swarm.TaskState) *store.Task {
	c := *t
	c.DesiredState = s
	return &c
}
