package orchestrator

import (
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/scheduler"
	"github.com/shoal-project/shoal/internal/store"
)

// eligibility says what a node is to a global service: whether it keeps
// its task (it is up, not drained, and matches the constraints) and
// whether it gets a new one (it is also ready and active: a paused node
// keeps what it runs).
type eligibility func(n *store.Node) (keep, start bool)

func eligible(svc *store.Service) eligibility {
	var cs []scheduler.Constraint
	bad := false
	if p := svc.Spec.TaskTemplate.Placement; p != nil {
		var err error
		cs, err = scheduler.ParseConstraints(p.Constraints)
		bad = err != nil
	}
	return func(n *store.Node) (bool, bool) {
		if n == nil || bad || n.Status.State == swarm.NodeStateDown ||
			n.Spec.Availability == swarm.NodeAvailabilityDrain || !scheduler.MatchAll(cs, &n.Node) {
			return false, false
		}
		return true, n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive
	}
}

// global keeps one task on every eligible node. A node that stops being
// eligible loses its task and its history, so that it starts afresh if it
// becomes eligible again.
func (d *decider) global(svc *store.Service, tasks []*store.Task) {
	fits := eligible(svc)
	have := map[string]Slot{}
	for _, s := range Slots(svc, tasks) {
		have[s.NodeID] = s
		if keep, _ := fits(d.nodes[s.NodeID]); !keep {
			d.removeSlot(svc, s)
			continue
		}
		if occupied(s) {
			d.tend(svc, s, false, false, false)
		}
	}
	d.startOnNodes(svc, have, fits)
}

// startOnNodes starts a task of a global service (or job) on every node
// that takes one and has none, as many as the pass's budget gives the
// service.
func (d *decider) startOnNodes(svc *store.Service, have map[string]Slot, fits eligibility) {
	var missing []*store.Node
	for _, n := range d.in.Nodes {
		s, ok := have[n.ID]
		if _, start := fits(n); start && (!ok || !occupied(s)) {
			missing = append(missing, n)
		}
	}
	d.want(len(missing), func(k int) {
		for _, n := range missing[:k] {
			s, ok := have[n.ID]
			if !ok {
				s = Slot{NodeID: n.ID}
			}
			d.inSlot(svc, s, d.newTask(svc, 0, n.ID, swarm.TaskStateRunning))
		}
	})
}
