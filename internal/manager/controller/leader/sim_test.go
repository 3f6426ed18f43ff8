package leader_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/allocator"
	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/manager/reaper"
	"github.com/shoal-project/shoal/internal/manager/scheduler"
	"github.com/shoal-project/shoal/internal/manager/updater"
	"github.com/shoal-project/shoal/internal/store"
)

// sim plays a cluster without goroutines or real time: each tick runs
// every controller's decision once, in a fixed order, through the real
// store, then plays the agents from a seeded random script. Time is
// synctest's, so it only moves when the simulation sleeps.
type sim struct {
	t     *testing.T
	rng   *rand.Rand
	st    *store.Store
	ids   int
	seen  map[string]time.Time // what the updater saw running
	since time.Time
	// chance of a running task failing, and of an assigned one being
	// rejected, per tick
	failRate, rejectRate float64
	// badImage is the image the agents cannot start.
	badImage string
	// budget is the orchestrator's per pass (its default when zero);
	// a simulation that sets it checks that no pass creates more, and
	// lets replicated services hold fewer slots than they ask for
	// meanwhile, as long as they move towards it (gaps).
	budget int
	gaps   map[string]gap // by service ID
}

// gap is how far a service's slots were from its count.
type gap struct{ want, n int }

const tick = time.Second

func newSim(t *testing.T, seed uint64) *sim {
	return &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), st: ct.NewStore(t), seen: map[string]time.Time{}, gaps: map[string]gap{}, since: time.Now(), badImage: "busybox:bad"}
}

func (s *sim) newID() string {
	s.ids++
	return fmt.Sprintf("task%07d", s.ids)
}

func (s *sim) snapshot() controller.Snapshot { return controller.Read(s.st) }

func (s *sim) apply(changes []controller.Change) {
	s.t.Helper()
	if _, stale, err := controller.Apply(s.t.Context(), s.st, changes); err != nil || stale > 0 {
		s.t.Fatalf("apply: %d stale, err %v (nothing else writes, so nothing may be stale)", stale, err)
	}
}

// controllers runs one round of every controller. The updater goes
// first: a rollback changes the spec, which the orchestrator then follows
// in the same round.
func (s *sim) controllers() {
	now := time.Now()
	snap := s.snapshot()
	for _, t := range snap.Tasks {
		if _, ok := s.seen[t.ID]; !ok && t.Status.State == swarm.TaskStateRunning {
			s.seen[t.ID] = t.Status.Timestamp
		}
	}
	s.apply(updater.Decide(updater.Input{Snapshot: snap, Now: now, NewID: s.newID, Seen: s.seen, Since: s.since}).Changes)
	orch := orchestrator.Decide(orchestrator.Input{Snapshot: s.snapshot(), Now: now, NewID: s.newID, Budget: s.budget})
	if s.budget > 0 {
		created := 0
		for _, c := range orch.Changes {
			for _, t := range c.Tasks {
				if t.Version.Index == 0 {
					created++
				}
			}
		}
		if created > s.budget {
			s.t.Fatalf("the orchestrator created %d tasks in one pass, past its budget of %d", created, s.budget)
		}
	}
	s.apply(orch.Changes)
	if _, err := allocator.Allocate(s.t.Context(), s.st, now); err != nil {
		s.t.Fatalf("allocate: %v", err)
	}
	s.apply(scheduler.Decide(scheduler.Input{Snapshot: s.snapshot(), Now: now}).Changes())
	s.apply(reaper.Decide(s.snapshot()))
}

// agents moves every task on an up node one step: tasks asked to stop
// stop, assigned tasks start (or are rejected), starting tasks run (or
// fail, always for the bad image), running tasks may fail, and job tasks
// complete.
func (s *sim) agents() {
	snap := s.snapshot()
	nodes := orchestrator.IndexNodes(snap.Nodes)
	jobs := map[string]bool{}
	for _, svc := range snap.Services {
		jobs[svc.ID] = orchestrator.IsJob(svc)
	}
	now := time.Now()
	var changed []any
	set := func(t *store.Task, st swarm.TaskState, err string) {
		c := *t
		c.Status = swarm.TaskStatus{State: st, Timestamp: now, Err: err, Message: string(st)}
		changed = append(changed, &c)
	}
	for _, t := range snap.Tasks {
		n := nodes[t.NodeID]
		if n == nil || n.Status.State != swarm.NodeStateReady || !controller.OnNode(t) {
			continue
		}
		switch {
		case t.DesiredState != swarm.TaskStateRunning:
			set(t, swarm.TaskStateShutdown, "")
		case t.Status.State == swarm.TaskStateAssigned && s.rng.Float64() < s.rejectRate:
			set(t, swarm.TaskStateRejected, "No such image: x")
		case t.Status.State == swarm.TaskStateAssigned:
			set(t, swarm.TaskStateStarting, "")
		case t.Status.State == swarm.TaskStateStarting && t.Spec.ContainerSpec.Image == s.badImage:
			set(t, swarm.TaskStateFailed, "task: non-zero exit (1)")
		case t.Status.State == swarm.TaskStateStarting:
			set(t, swarm.TaskStateRunning, "")
		case jobs[t.ServiceID] && s.rng.Float64() < 0.3:
			set(t, swarm.TaskStateComplete, "")
		case s.rng.Float64() < s.failRate:
			set(t, swarm.TaskStateFailed, "task: non-zero exit (1)")
		}
	}
	if len(changed) > 0 {
		ct.Put(s.t, s.st, changed...)
	}
}

func (s *sim) step() {
	s.controllers()
	s.agents()
	time.Sleep(tick)
}

// change applies fn to a copy of a stored service, as the API does.
func (s *sim) change(id string, fn func(*store.Service)) {
	var cur *store.Service
	s.st.View(func(tx store.ReadTx) { cur = store.Get[*store.Service](tx, id) })
	c := store.Clone(cur)
	fn(c)
	ct.Put(s.t, s.st, c)
}

// update changes a service's spec as `docker service update` does.
func (s *sim) update(id string, fn func(*swarm.ServiceSpec)) {
	s.change(id, func(c *store.Service) {
		prev := store.Clone(c).Spec
		c.PreviousSpec = &prev
		fn(&c.Spec)
		c.SpecVersion++
		c.UpdateStatus = nil
	})
}

func (s *sim) changeNode(id string, fn func(*store.Node)) {
	var cur *store.Node
	s.st.View(func(tx store.ReadTx) { cur = store.Get[*store.Node](tx, id) })
	c := store.Clone(cur)
	fn(c)
	ct.Put(s.t, s.st, c)
}

// slotKey names a slot: its number, or its node for global services.
func slotKey(svc *store.Service, t *store.Task) string {
	if orchestrator.IsGlobal(svc) {
		return t.NodeID
	}
	return fmt.Sprint(t.Slot)
}

// checkInvariants checks what must hold after every round: no node holds
// more than it has, a slot runs at most one task (two during a start-first
// update or a canary, one of each spec), every replicated service holds exactly its
// replicas in slots, every eligible node has its global tasks and no
// ineligible one runs any, and a task left pending says why.
func (s *sim) checkInvariants(step int) {
	s.t.Helper()
	snap := s.snapshot()
	nodes := orchestrator.IndexNodes(snap.Nodes)
	fail := func(format string, args ...any) {
		s.t.Helper()
		s.t.Fatalf("step %d: "+format, append([]any{step}, args...)...)
	}
	type use struct{ cpu, mem int64 }
	used := map[string]use{}
	byService := map[string][]*store.Task{}
	for _, t := range snap.Tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
		if controller.OnNode(t) && t.Spec.Resources != nil && t.Spec.Resources.Reservations != nil {
			u := used[t.NodeID]
			u.cpu += t.Spec.Resources.Reservations.NanoCPUs
			u.mem += t.Spec.Resources.Reservations.MemoryBytes
			used[t.NodeID] = u
		}
		if t.Status.State == swarm.TaskStatePending && t.DesiredState == swarm.TaskStateRunning && !strings.HasPrefix(t.Status.Err, "no suitable node") {
			fail("task %s pending with error %q", t.ID, t.Status.Err)
		}
	}
	for id, u := range used {
		if n := nodes[id]; n != nil && (u.cpu > n.Description.Resources.NanoCPUs || u.mem > n.Description.Resources.MemoryBytes) {
			fail("node %s oversubscribed: %d/%d CPU, %d/%d memory", id, u.cpu, n.Description.Resources.NanoCPUs, u.mem, n.Description.Resources.MemoryBytes)
		}
	}
	for _, svc := range snap.Services {
		running := map[string][]*store.Task{}
		taken := map[string]bool{}
		for _, t := range byService[svc.ID] {
			k := slotKey(svc, t)
			if t.DesiredState == swarm.TaskStateRunning {
				running[k] = append(running[k], t)
			}
			if t.DesiredState != swarm.TaskStateRemove {
				taken[k] = true
			}
		}
		startFirst := svc.Spec.UpdateConfig != nil && svc.Spec.UpdateConfig.Order == swarm.UpdateOrderStartFirst ||
			svc.Spec.RollbackConfig != nil && svc.Spec.RollbackConfig.Order == swarm.UpdateOrderStartFirst ||
			svc.Canary != nil // canaries start beside the old tasks
		for k, ts := range running {
			current := 0
			for _, t := range ts {
				if orchestrator.UpToDate(t, svc, snap.Cluster) {
					current++
				}
			}
			if len(ts) > 2 || len(ts) == 2 && !(startFirst && current == 1) {
				fail("service %s slot %s has %d tasks meant to run (%d current)\n%s", svc.Spec.Name, k, len(ts), current, s.dump(svc.ID))
			}
		}
		switch {
		case svc.Spec.Mode.Replicated != nil && s.budget > 0:
			// Batches only ever narrow the gap to the count asked.
			want := orchestrator.Replicas(svc)
			g := gap{want: want, n: max(len(taken)-want, want-len(taken))}
			if prev, ok := s.gaps[svc.ID]; ok && prev.want == want && g.n > prev.n {
				fail("service %s holds %d slots of %d, further than the %d apart it was", svc.Spec.Name, len(taken), want, prev.n)
			}
			s.gaps[svc.ID] = g
		case svc.Spec.Mode.Replicated != nil:
			if len(taken) != orchestrator.Replicas(svc) {
				fail("service %s holds %d slots, want %d", svc.Spec.Name, len(taken), orchestrator.Replicas(svc))
			}
		case svc.Spec.Mode.Global != nil:
			for _, n := range snap.Nodes {
				eligible := n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive &&
					scheduler.NodeMatches(svc.Spec.TaskTemplate, &n.Node)
				if eligible && !taken[n.ID] && s.budget == 0 {
					fail("global service %s has no task on eligible node %s", svc.Spec.Name, n.ID)
				}
				gone := n.Status.State == swarm.NodeStateDown || n.Spec.Availability == swarm.NodeAvailabilityDrain ||
					!scheduler.NodeMatches(svc.Spec.TaskTemplate, &n.Node)
				if gone && len(running[n.ID]) > 0 {
					fail("global service %s still runs on ineligible node %s", svc.Spec.Name, n.ID)
				}
			}
		}
	}
}

// settled reports whether no update is in progress or due, and no job
// runs.
func (s *sim) settled() bool {
	snap := s.snapshot()
	services := map[string]*store.Service{}
	for _, svc := range snap.Services {
		if u := svc.UpdateStatus; u != nil && (u.State == swarm.UpdateStateUpdating || u.State == swarm.UpdateStateRollbackStarted) {
			return false
		}
		services[svc.ID] = svc
	}
	taken := map[string]map[int]bool{}
	global := map[string]map[string]bool{}
	for _, t := range snap.Tasks {
		svc := services[t.ServiceID]
		if svc != nil && controller.Live(t) && (orchestrator.IsJob(svc) || !orchestrator.UpToDate(t, svc, snap.Cluster)) {
			return false
		}
		if t.DesiredState != swarm.TaskStateRemove {
			if taken[t.ServiceID] == nil {
				taken[t.ServiceID] = map[int]bool{}
			}
			taken[t.ServiceID][t.Slot] = true
			if global[t.ServiceID] == nil {
				global[t.ServiceID] = map[string]bool{}
			}
			global[t.ServiceID][t.NodeID] = true
		}
	}
	for _, svc := range snap.Services {
		if svc.Spec.Mode.Replicated != nil && len(taken[svc.ID]) != orchestrator.Replicas(svc) {
			return false // slots still to start, or to remove
		}
		if svc.Spec.Mode.Global == nil {
			continue
		}
		for _, n := range snap.Nodes {
			eligible := n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive &&
				scheduler.NodeMatches(svc.Spec.TaskTemplate, &n.Node)
			if eligible && !global[svc.ID][n.ID] {
				return false // nodes still to start on
			}
		}
	}
	return true
}

// checkConverged checks a quiet cluster: every service runs what it asks
// for, and no update is left half way.
func (s *sim) checkConverged() {
	s.t.Helper()
	snap := s.snapshot()
	byService := map[string][]*store.Task{}
	for _, t := range snap.Tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
		if t.Status.State == swarm.TaskStatePending && t.DesiredState == swarm.TaskStateRunning {
			s.t.Errorf("task %s of %s still pending: %s", t.ID, t.ServiceID, t.Status.Err)
		}
	}
	for _, svc := range snap.Services {
		if u := svc.UpdateStatus; u != nil && (u.State == swarm.UpdateStateUpdating || u.State == swarm.UpdateStateRollbackStarted) {
			s.t.Errorf("service %s: update still %s\n%s", svc.Spec.Name, u.State, s.dump(svc.ID))
		}
		running, complete := 0, 0
		for _, t := range byService[svc.ID] {
			if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
				running++
				if !orchestrator.UpToDate(t, svc, snap.Cluster) {
					s.t.Errorf("service %s: task %s runs an old spec", svc.Spec.Name, t.ID)
				}
			}
			if t.Status.State == swarm.TaskStateComplete && t.JobIteration != nil && t.JobIteration.Index == svc.SpecVersion {
				complete++
			}
		}
		switch m := svc.Spec.Mode; {
		case m.Replicated != nil:
			if running != orchestrator.Replicas(svc) {
				s.t.Errorf("service %s runs %d tasks, want %d\n%s", svc.Spec.Name, running, orchestrator.Replicas(svc), s.dump(svc.ID))
			}
		case m.Global != nil:
			want := 0
			for _, n := range snap.Nodes {
				if scheduler.NodeMatches(svc.Spec.TaskTemplate, &n.Node) {
					want++
				}
			}
			if running != want {
				s.t.Errorf("global service %s runs %d tasks, want %d", svc.Spec.Name, running, want)
			}
		case m.ReplicatedJob != nil:
			if _, total := orchestrator.JobCounts(svc); complete != total {
				s.t.Errorf("job %s completed %d tasks, want %d\n%s", svc.Spec.Name, complete, total, s.dump(svc.ID))
			}
		}
	}
}

// cluster makes nodes in three zones with mixed sizes and services of
// every kind that the cluster can always hold: reservations take at most
// a quarter of it, constraints exclude at most one zone, MaxReplicas
// leaves room for every replica.
func (s *sim) cluster(nodeCount, serviceCount int) {
	var objs []any
	var cpu, mem int64
	for i := range nodeCount {
		n := ct.Node(fmt.Sprintf("node%03d", i), func(n *store.Node) {
			n.Spec.Labels["zone"] = fmt.Sprint("z", i%3)
			n.Description.Resources = swarm.Resources{NanoCPUs: int64(2+s.rng.IntN(15)) * 1e9, MemoryBytes: int64(4+s.rng.IntN(60)) << 30}
			cpu += n.Description.Resources.NanoCPUs
			mem += n.Description.Resources.MemoryBytes
		})
		objs = append(objs, n)
	}
	budgetCPU, budgetMem := cpu/4, mem/4
	for i := range serviceCount {
		id := fmt.Sprintf("svc%03d", i)
		replicas := uint64(1 + s.rng.IntN(min(2*nodeCount, 60)))
		svc := ct.Service(id, "web"+fmt.Sprint(i), replicas, func(sv *store.Service) {
			spec := &sv.Spec.TaskTemplate
			spec.Placement = &swarm.Placement{}
			if s.rng.IntN(3) == 0 {
				spec.Placement.Constraints = []string{fmt.Sprintf("node.labels.zone!=z%d", s.rng.IntN(3))}
			}
			if s.rng.IntN(3) == 0 {
				spec.Placement.Preferences = []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}}
			}
			if s.rng.IntN(4) == 0 {
				spec.Placement.MaxReplicas = replicas/uint64(max(nodeCount/3, 1)) + 2
			}
			if c, m := int64(1e8)*int64(replicas), int64(64<<20)*int64(replicas); s.rng.IntN(2) == 0 && c <= budgetCPU && m <= budgetMem {
				spec.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: 1e8, MemoryBytes: 64 << 20}}
				budgetCPU -= c
				budgetMem -= m
			}
			spec.RestartPolicy = &swarm.RestartPolicy{Delay: ptr(time.Duration(s.rng.IntN(3)) * time.Second)}
			order := []swarm.UpdateOrder{swarm.UpdateOrderStopFirst, swarm.UpdateOrderStartFirst}[s.rng.IntN(2)]
			sv.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: uint64(s.rng.IntN(4)), Order: order, Monitor: 2 * time.Second,
				FailureAction: []swarm.FailureAction{"pause", "continue", "rollback"}[s.rng.IntN(3)]}
			switch s.rng.IntN(6) {
			case 0:
				sv.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
			case 1:
				mc, total := uint64(1+s.rng.IntN(5)), uint64(1+s.rng.IntN(20))
				sv.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &mc, TotalCompletions: &total}}
			}
		})
		objs = append(objs, svc)
	}
	ct.Put(s.t, s.st, objs...)
}

func ptr[T any](v T) *T { return &v }

// chaos makes one random change: a node goes down or comes back, is
// drained, paused or activated, changes zone; a service is scaled or
// updated, sometimes to an image that cannot start.
func (s *sim) chaos() {
	snap := s.snapshot()
	switch r := s.rng.IntN(10); {
	case r < 4:
		n := snap.Nodes[s.rng.IntN(len(snap.Nodes))]
		s.changeNode(n.ID, func(n *store.Node) {
			switch s.rng.IntN(4) {
			case 0:
				n.Status.State = []swarm.NodeState{swarm.NodeStateDown, swarm.NodeStateReady}[s.rng.IntN(2)]
			case 1:
				n.Spec.Availability = []swarm.NodeAvailability{"active", "pause", "drain"}[s.rng.IntN(3)]
			case 2:
				n.Spec.Labels["zone"] = fmt.Sprint("z", s.rng.IntN(3))
			default:
				n.Status.State, n.Spec.Availability = swarm.NodeStateReady, swarm.NodeAvailabilityActive
			}
		})
	default:
		svc := snap.Services[s.rng.IntN(len(snap.Services))]
		s.update(svc.ID, func(spec *swarm.ServiceSpec) {
			switch {
			case spec.Mode.Replicated != nil && s.rng.IntN(2) == 0:
				spec.Mode.Replicated.Replicas = ptr(uint64(s.rng.IntN(min(len(snap.Nodes), 60) + 1)))
			case s.rng.IntN(5) == 0:
				spec.TaskTemplate.ContainerSpec.Image = s.badImage
			default:
				spec.TaskTemplate.ContainerSpec.Image = fmt.Sprintf("busybox:%d", s.rng.IntN(1000))
			}
		})
	}
}

// heal brings every node back, and every service with a paused update or
// an image that cannot start to one that starts, as an operator would.
func (s *sim) heal() {
	snap := s.snapshot()
	for _, n := range snap.Nodes {
		if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
			s.changeNode(n.ID, func(n *store.Node) {
				n.Status.State, n.Spec.Availability = swarm.NodeStateReady, swarm.NodeAvailabilityActive
			})
		}
	}
	for _, svc := range snap.Services {
		paused := svc.UpdateStatus != nil && (svc.UpdateStatus.State == swarm.UpdateStatePaused || svc.UpdateStatus.State == swarm.UpdateStateRollbackPaused)
		if paused || svc.Spec.TaskTemplate.ContainerSpec.Image == s.badImage {
			s.update(svc.ID, func(spec *swarm.ServiceSpec) { spec.TaskTemplate.ContainerSpec.Image = "busybox:healed" })
		}
	}
}

var soak = flag.Int("sim.soak", 0, "run the simulation with this many more seeds")

func TestSimulation(t *testing.T) {
	type run struct {
		seed            uint64
		nodes, services int
	}
	runs := []run{{1, 3, 4}, {2, 5, 6}, {3, 12, 8}, {4, 40, 10}, {5, 100, 12}, {6, 300, 16}}
	for i := range *soak {
		seed := uint64(100 + i)
		r := rand.New(rand.NewPCG(seed, 0))
		runs = append(runs, run{seed, 3 + r.IntN(120), 2 + r.IntN(14)})
	}
	for _, c := range runs {
		t.Run(fmt.Sprintf("seed=%d/nodes=%d", c.seed, c.nodes), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSim(t, c.seed)
				s.failRate, s.rejectRate = 0.01, 0.02
				s.cluster(c.nodes, c.services)
				for i := range 150 {
					if s.rng.IntN(3) == 0 {
						s.chaos()
					}
					s.step()
					s.checkInvariants(i)
				}
				// Quiet: nothing fails any more; every node comes back
				// and every service gets an image that starts. Updates
				// left paused are what an operator would see; the heal
				// is a new update, which resumes them.
				s.failRate, s.rejectRate = 0, 0
				s.heal()
				for i := 150; !s.settled(); i++ {
					if i > 5000 {
						t.Fatalf("not settled after %d steps", i)
					}
					s.step()
					s.checkInvariants(i)
				}
				for i := range 20 {
					s.step()
					s.checkInvariants(i)
				}
				s.checkConverged()
			})
		})
	}
}

// dump describes a service and its tasks, for failure messages.
func (s *sim) dump(id string) string {
	var b strings.Builder
	s.st.View(func(tx store.ReadTx) {
		svc := store.Get[*store.Service](tx, id)
		fmt.Fprintf(&b, "service %s v%d mode %+v update %+v image %s\n", svc.Spec.Name, svc.SpecVersion, svc.Spec.Mode, svc.Spec.UpdateConfig, svc.Spec.TaskTemplate.ContainerSpec.Image)
		if svc.UpdateStatus != nil {
			fmt.Fprintf(&b, "  status %s %s started %v\n", svc.UpdateStatus.State, svc.UpdateStatus.Message, svc.UpdateStatus.StartedAt)
		}
		tasks := store.TasksByService(tx, id)
		sort.Slice(tasks, func(i, j int) bool {
			return tasks[i].Slot < tasks[j].Slot || tasks[i].Slot == tasks[j].Slot && tasks[i].CreatedAt.Before(tasks[j].CreatedAt)
		})
		for _, t := range tasks {
			fmt.Fprintf(&b, "  %s slot %d node %s v%d %s desired %s state %s at %v created %v %s\n", t.ID, t.Slot, t.NodeID, t.SpecVersion, t.Spec.ContainerSpec.Image, t.DesiredState, t.Status.State, t.Status.Timestamp.Format("15:04:05"), t.CreatedAt.Format("15:04:05"), t.Status.Err)
		}
	})
	return b.String()
}

// Counts many times the orchestrator's budget converge pass by pass, with
// the other services served beside them: a replicated service scaled up
// and down, a job of many completions and a global service over more
// nodes than one pass starts.
func TestSimulationLargeCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, 7)
		s.budget = 40
		s.cluster(100, 6)
		big := ct.Service("big", "big", 600)
		total, concurrent := uint64(300), uint64(120)
		job := ct.Service("bigjob", "bigjob", 0, func(sv *store.Service) {
			sv.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &concurrent, TotalCompletions: &total}}
		})
		all := ct.Service("everywhere", "everywhere", 0, ct.Global)
		ct.Put(t, s.st, big, job, all)
		settle := func(what string, from int) int {
			t.Helper()
			i := from
			for ; !s.settled(); i++ {
				if i > from+500 {
					t.Fatalf("%s: not settled after %d steps", what, i-from)
				}
				s.step()
				s.checkInvariants(i)
			}
			for range 20 {
				s.step()
				s.checkInvariants(i)
				i++
			}
			s.checkConverged()
			return i
		}
		i := settle("scale up", 0)
		s.update("big", func(spec *swarm.ServiceSpec) { spec.Mode.Replicated.Replicas = ptr(uint64(40)) })
		i = settle("scale down", i)
		s.update("big", func(spec *swarm.ServiceSpec) { spec.Mode.Replicated.Replicas = ptr(uint64(1000)) })
		settle("scale up again", i)
	})
}
