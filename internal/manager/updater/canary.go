package updater

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/store"
)

// A canary deployment (store.Canary, Shoal's own) holds an update after
// its first Count slots: their new tasks start beside the old ones, which
// keep running, and the rest waits for promotion. A new task that fails
// beyond the update's MaxFailureRatio (of Count) rolls the service back
// whatever the failure action, since judging the new spec is what a
// canary is for. Promotion, asked or automatic after PromoteAfter of
// health, lets the update go on as any other: the canary slots' old tasks
// stop and the other slots roll by the update config. Blue/green is a
// canary of every slot whose promotion waits until all new tasks run, so
// that the old tasks all stop in the same pass.

// holding reports whether a canary of the service's current spec waits
// for promotion.
func (u *update) holding() bool {
	c := u.svc.Canary
	return c != nil && c.State == store.CanaryWaiting && c.SpecVersion == u.svc.SpecVersion
}

// canaryOvertaken records, and reports, that the service's spec changed
// under a waiting canary: rolled back on request, or replaced by another
// update. The next pass goes on with the new spec.
func (u *update) canaryOvertaken() bool {
	c := u.svc.Canary
	if c == nil || c.State != store.CanaryWaiting || c.SpecVersion == u.svc.SpecVersion {
		return false
	}
	end := *c
	end.EndedAt = u.in.Now
	if st := u.svc.UpdateStatus; st != nil && st.State == swarm.UpdateStateRollbackStarted {
		end.State, end.Message = store.CanaryRolledBack, "rolled back: "+st.Message
	} else {
		end.State, end.Message = store.CanarySuperseded, "superseded by a newer spec"
	}
	svc := *u.svc
	svc.Canary = &end
	u.res.Changes = append(u.res.Changes, controller.Change{Services: []*store.Service{&svc}})
	return true
}

// canary decides one pass of a canary in progress: start the new tasks it
// lacks, roll back when too many failed, promote when asked or when due,
// and otherwise keep its progress in the status.
func (u *update) canary(slots []*slotState, cfg Config, m *monitor, started time.Time, tasks []*store.Task) {
	c := u.svc.Canary
	failures := 0
	var lastFailed *store.Task
	var waiting []*slotState
	var fresh []*store.Task // the newest new task of each canary slot
	for _, s := range slots {
		u.judge(s, m, started)
		failures += len(s.failed)
		for _, f := range s.failed {
			lastFailed = later(lastFailed, f)
		}
		switch {
		case s.outdated:
			waiting = append(waiting, s)
		case len(s.fresh) > 0:
			fresh = append(fresh, orchestrator.Newest(s.fresh))
		}
	}
	if failures > 0 && float32(failures)/float32(max(c.Count, 1)) > cfg.MaxFailureRatio {
		u.revert(lastFailed, tasks)
		return
	}
	ready, stable := len(fresh) >= c.Count, len(fresh) >= c.Count
	var stableAt time.Time
	up := 0 // new tasks running
	for _, t := range fresh {
		switch m.judge(t) {
		case starting:
			ready, stable = false, false
		case running:
			stable = false
		}
		if t.Status.State == swarm.TaskStateRunning {
			up++
			stableAt = latest(stableAt, t.Status.Timestamp.Add(cfg.Monitor))
		}
	}
	if missing := c.Count - len(fresh); missing > 0 {
		// Slots whose old task does not run anyway go first.
		slices.SortStableFunc(waiting, func(a, b *slotState) int {
			return cmp.Or(cmp.Compare(runningOld(a), runningOld(b)), cmp.Compare(a.slot.Number, b.slot.Number))
		})
		for _, s := range waiting[:u.take(min(missing, len(waiting)))] {
			u.start(s, Config{Order: swarm.UpdateOrderStartFirst})
		}
	}
	switch {
	case c.PromoteRequested && (ready || !c.BlueGreen):
		u.promote("promoted on request", up)
		return
	case c.PromoteAfter > 0 && stable:
		at := stableAt.Add(c.PromoteAfter)
		if !u.in.Now.Before(at) {
			u.promote(fmt.Sprintf("promoted after its new tasks ran healthy for %s", c.PromoteAfter), up)
			return
		}
		u.wake(at)
	}
	if msg := u.canaryMessage(up); c.Running != up || u.svc.UpdateStatus.Message != msg {
		svc := *u.svc
		cc, st := *c, *u.svc.UpdateStatus
		cc.Running, st.Message = up, msg
		svc.Canary, svc.UpdateStatus = &cc, &st
		u.res.Changes = append(u.res.Changes, controller.Change{Services: []*store.Service{&svc}})
	}
}

// canaryMessage is the update status of a canary waiting with running new
// tasks: what it waits for, and the commands that end it.
func (u *update) canaryMessage(up int) string {
	c := u.svc.Canary
	kind := "canary"
	if c.BlueGreen {
		kind = "blue/green"
	}
	msg := fmt.Sprintf("%s: %d of %d new tasks running beside the old ones", kind, up, c.Count)
	switch name := u.svc.Spec.Name; {
	case c.PromoteRequested:
		msg += "; promotion asked, switching once they all run"
	case c.PromoteAfter > 0:
		msg += fmt.Sprintf("; promoting once they have run healthy for %s (shoal service promote %s to promote now, shoal service rollback %s to discard them)", c.PromoteAfter, name, name)
	default:
		msg += fmt.Sprintf("; waiting for shoal service promote %s (or shoal service rollback %s to discard them)", name, name)
	}
	return msg
}

// promote ends the canary's hold: from the next pass on the update goes
// on as any other.
func (u *update) promote(reason string, up int) {
	svc := *u.svc
	c, st := *u.svc.Canary, *u.svc.UpdateStatus
	c.State, c.EndedAt, c.Message, c.Running = store.CanaryPromoted, u.in.Now, reason, up
	st.Message = MessageUpdating
	svc.Canary, svc.UpdateStatus = &c, &st
	u.res.Changes = append(u.res.Changes, controller.Change{Services: []*store.Service{&svc}})
}

// revert rolls the service back to its previous spec because a new task
// failed: the canary's new tasks stop, the old ones were never touched.
func (u *update) revert(failed *store.Task, tasks []*store.Task) {
	why := failed.Status.Err
	if why == "" {
		why = string(failed.Status.State)
	}
	end := func(svc *store.Service) {
		c := *u.svc.Canary
		c.State, c.EndedAt = store.CanaryRolledBack, u.in.Now
		c.Message = fmt.Sprintf("rolled back: new task %s failed: %s", failed.ID, why)
		svc.Canary = &c
	}
	if u.svc.PreviousSpec == nil {
		svc := *u.svc
		end(&svc)
		svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, StartedAt: u.svc.UpdateStatus.StartedAt, Message: MessagePaused + failed.ID}
		u.res.Changes = append(u.res.Changes, controller.Change{Services: []*store.Service{&svc}})
		return
	}
	u.rollBack(MessageRolledBack+failed.ID, tasks, end)
}

// later returns whichever of a and b failed last (b when a is nil), ties
// broken by ID so that the choice does not depend on order.
func later(a, b *store.Task) *store.Task {
	if a == nil || b.Status.Timestamp.After(a.Status.Timestamp) ||
		(b.Status.Timestamp.Equal(a.Status.Timestamp) && b.ID > a.ID) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
