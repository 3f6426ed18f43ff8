package scheduler

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
)

// RecentFailure is how long a task's failure on a node makes that node
// the last choice for the task's service.
const RecentFailure = 5 * time.Minute

// Messages the scheduler leaves on tasks.
const (
	MessageAssigned = "scheduler assigned task to node"
	MessagePending  = "pending task scheduling"
)

// Input is what the scheduler decides from.
type Input struct {
	controller.Snapshot
	Now time.Time
}

// Result is what the scheduler decided: the new state of every task it
// placed (State assigned, NodeID set) or could not place (State pending,
// Err saying why). Tasks whose state would not change are left out, so a
// pass over a settled cluster writes nothing.
type Result struct {
	Tasks []*store.Task
}

// Changes returns one change per task, so that a task changed meanwhile
// does not hold up the others.
func (r Result) Changes() []controller.Change {
	out := make([]controller.Change, len(r.Tasks))
	for i, t := range r.Tasks {
		out[i] = controller.Change{Tasks: []*store.Task{t}}
	}
	return out
}

// Schedulable reports whether the scheduler places t: it is meant to run,
// the allocator gave it its addresses (moving it from new to pending) and
// it has not reached a node yet.
func Schedulable(t *store.Task) bool {
	return t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStatePending
}

// Decide places every schedulable task it can. Tasks with a node already
// set (global services) are checked against that node only; the others
// are grouped by service and spec version, so filters run once per group
// and node, and placed one by one on the best-ranked node that still
// fits. The result depends only on the input.
func Decide(in Input) Result {
	p := &pass{in: in, services: map[string]*store.Service{}, byID: map[string]*nodeInfo{}, static: map[string][]*nodeInfo{}}
	for _, s := range in.Services {
		p.services[s.ID] = s
	}
	for _, n := range in.Nodes {
		ni := newNodeInfo(n)
		p.nodes = append(p.nodes, ni)
		p.byID[n.ID] = ni
	}
	slices.SortFunc(p.nodes, func(a, b *nodeInfo) int { return cmp.Compare(a.ID, b.ID) })
	groups := p.account()
	for _, t := range p.preset {
		p.placeOn(t)
	}
	keys := make([]groupKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.version, b.version))
	})
	for _, k := range keys {
		p.placeGroup(groups[k])
	}
	return p.res
}

type groupKey struct {
	service string
	version uint64
}

type pass struct {
	in       Input
	services map[string]*store.Service
	nodes    []*nodeInfo // by ID
	byID     map[string]*nodeInfo
	preset   []*store.Task          // schedulable tasks with their node chosen already
	static   map[string][]*nodeInfo // candidates by request.staticKey
	res      Result
}

// account walks the tasks once: what is on each node, which services
// failed where, and which tasks are to be placed.
func (p *pass) account() map[groupKey][]*store.Task {
	groups := map[groupKey][]*store.Task{}
	since := p.in.Now.Add(-RecentFailure)
	for _, t := range p.in.Tasks {
		if Schedulable(t) {
			if p.services[t.ServiceID] == nil {
				continue // its service is gone; the orchestrator removes it
			}
			if t.NodeID != "" {
				p.preset = append(p.preset, t)
			} else {
				k := groupKey{t.ServiceID, t.SpecVersion}
				groups[k] = append(groups[k], t)
			}
			continue
		}
		n := p.byID[t.NodeID]
		if n == nil {
			continue
		}
		switch {
		case controller.OnNode(t):
			n.hold(t, p.portsOf(t), controller.Live(t))
		case (t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected) && t.Status.Timestamp.After(since):
			if n.failed == nil {
				n.failed = map[string]bool{}
			}
			n.failed[t.ServiceID] = true
		}
	}
	slices.SortFunc(p.preset, func(a, b *store.Task) int { return cmp.Compare(a.ID, b.ID) })
	for _, g := range groups {
		slices.SortFunc(g, func(a, b *store.Task) int { return cmp.Or(cmp.Compare(a.Slot, b.Slot), cmp.Compare(a.ID, b.ID)) })
	}
	return groups
}

// portsOf returns the host ports a task on a node holds: those it reports,
// or else those its service publishes.
func (p *pass) portsOf(t *store.Task) []hostPort {
	if ps := t.Status.PortStatus.Ports; len(ps) > 0 {
		return hostPorts(&swarm.EndpointSpec{Ports: ps})
	}
	if s := p.services[t.ServiceID]; s != nil {
		return hostPorts(s.Spec.EndpointSpec)
	}
	return nil
}

// placeOn checks a task whose node is chosen (a global service's) against
// that node.
func (p *pass) placeOn(t *store.Task) {
	r := newRequest(p.services[t.ServiceID], t.Spec)
	n := p.byID[t.NodeID]
	if n == nil {
		p.pending(t, "")
		return
	}
	if f := firstFailure(r, n); f != nil {
		p.pending(t, f.explain(1))
		return
	}
	p.assign(t, n, n.take(r))
}

// placeGroup places the tasks of one service at one spec version.
func (p *pass) placeGroup(tasks []*store.Task) {
	r := newRequest(p.services[tasks[0].ServiceID], tasks[0].Spec)
	tree := newTree(r, p.candidates(r))
	pl := &placer{r: r}
	for i, t := range tasks {
		n := tree.place(pl)
		if n == nil {
			why := p.explain(r)
			for _, t := range tasks[i:] {
				p.pending(t, why)
			}
			return
		}
		p.assign(t, n, pl.given)
	}
}

// candidates returns the nodes that pass the static filters for r, found
// once per pass for all requests alike.
func (p *pass) candidates(r *request) []*nodeInfo {
	key := r.staticKey()
	if c, ok := p.static[key]; ok {
		return c
	}
	var static []filter
	for _, f := range chain {
		if f.static() && f.enabled(r) {
			static = append(static, f)
		}
	}
	c := []*nodeInfo{}
	for _, n := range p.nodes {
		if passes(static, r, n) {
			c = append(c, n)
		}
	}
	p.static[key] = c
	return c
}

func passes(fs []filter, r *request, n *nodeInfo) bool {
	for _, f := range fs {
		if !f.check(r, n) {
			return false
		}
	}
	return true
}

// firstFailure returns the first filter of the chain that refuses n.
func firstFailure(r *request, n *nodeInfo) filter {
	for _, f := range chain {
		if f.enabled(r) && !f.check(r, n) {
			return f
		}
	}
	return nil
}

// explain says why no node can take a task of r now: each node is counted
// under the first filter that refuses it, the most common reason first.
func (p *pass) explain(r *request) string {
	counts := make([]int, len(chain))
	for _, n := range p.nodes {
		if f := firstFailure(r, n); f != nil {
			counts[slices.Index(chain, f)]++
		}
	}
	order := make([]int, len(chain))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(counts[b], counts[a]) })
	var parts []string
	for _, i := range order {
		if counts[i] > 0 {
			parts = append(parts, chain[i].explain(counts[i]))
		}
	}
	return strings.Join(parts, "; ")
}

func (p *pass) assign(t *store.Task, n *nodeInfo, given []swarm.GenericResource) {
	c := *t
	c.NodeID = n.ID
	c.Status = swarm.TaskStatus{Timestamp: p.in.Now, State: swarm.TaskStateAssigned, Message: MessageAssigned}
	if len(given) > 0 {
		c.GenericResources = given
	}
	p.res.Tasks = append(p.res.Tasks, &c)
}

func (p *pass) pending(t *store.Task, why string) {
	err := "no suitable node"
	if why != "" {
		err += " (" + why + ")"
	}
	if t.Status.State == swarm.TaskStatePending && t.Status.Err == err {
		return
	}
	c := *t
	c.Status = swarm.TaskStatus{Timestamp: p.in.Now, State: swarm.TaskStatePending, Message: MessagePending, Err: err}
	p.res.Tasks = append(p.res.Tasks, &c)
}

// placer runs the dynamic filters of one request while a group is placed.
type placer struct {
	r       *request
	dynamic []filter
	given   []swarm.GenericResource // by the last take
	init    bool
}

func (pl *placer) fits(n *nodeInfo) bool {
	if !pl.init {
		for _, f := range chain {
			if !f.static() && f.enabled(pl.r) {
				pl.dynamic = append(pl.dynamic, f)
			}
		}
		pl.init = true
	}
	return passes(pl.dynamic, pl.r, n)
}

func (pl *placer) take(n *nodeInfo) { pl.given = n.take(pl.r) }
