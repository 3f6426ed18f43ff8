package node

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/executor/fakeexec"
	"github.com/shoal-project/shoal/internal/store"
)

// TestServicesServedAcrossLeaderFlaps moves raft leadership among three
// managers, fast and many times — transfers, a transfer straight back,
// the leader stopped and started again as a killed daemon is — and after
// each settle creates a service, then checks that every service created
// so far runs all its replicas. A leader whose controllers or dispatcher
// did not run would leave the new service without tasks while the API
// answers: RELIABILITY.md's finding 5.
func TestServicesServedAcrossLeaderFlaps(t *testing.T) {
	if testing.Short() {
		t.Skip("three managers flapping leadership for a minute")
	}
	c := newFlapCluster(t, fakeexec.Config{})
	for round := range 12 {
		// The writes come just before the flap, as in finding 5's
		// schedule: a leader change between a write and the
		// controllers' passes over it.
		c.createAndScale(round)
		leader := leaderOf(t, c.nodes...)
		var what string
		switch c.rng.IntN(3) {
		case 0:
			what = "transfer from " + leader.name
			transfer(t, leader)
		case 1:
			what = "transfer from " + leader.name + " and straight on"
			transfer(t, leader)
			for _, n := range c.nodes {
				if n.isLeader() {
					transfer(t, n)
				}
			}
		case 2:
			what = "restart of the leader " + leader.name
			leader.restart()
		}
		start := time.Now()
		c.waitServed()
		t.Logf("round %d (%s, then %s leads): every service runs its replicas %s after the flap",
			round, what, leaderOf(t, c.nodes...).name, time.Since(start).Round(time.Millisecond))
	}
}

// flapCluster is three managers, the third running its simulated
// containers as exec says, and the services written to them so far.
type flapCluster struct {
	t     *testing.T
	nodes []*testNode
	rng   *rand.Rand
	want  map[string]int // service name → replicas
}

// newFlapCluster starts the three managers and a random source whose
// seed the test logs.
func newFlapCluster(t *testing.T, exec fakeexec.Config) *flapCluster {
	t.Helper()
	m1, m2, m3 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNodeExec(t, "m3", exec)
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	m3.join(m1, swarm.NodeRoleManager)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return &flapCluster{t: t, nodes: []*testNode{m1, m2, m3}, rng: rand.New(rand.NewPCG(seed, 0)), want: map[string]int{}}
}

// createAndScale creates service svc-ROUND with 2 replicas through the
// leader and, after the first round, scales one made before 2 → 1 → 2,
// as finding 5's svc-b was scaled.
func (c *flapCluster) createAndScale(round int) {
	c.t.Helper()
	name := fmt.Sprintf("svc-%d", round)
	c.write("create "+name, func(leader *testNode) error {
		n := uint64(2)
		_, err := leader.api().CreateService(c.t.Context(), swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: name},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
		})
		return err
	})
	c.want[name] = 2
	if round == 0 {
		return
	}
	other := fmt.Sprintf("svc-%d", c.rng.IntN(round))
	replicas := 3 - c.want[other]
	c.write(fmt.Sprintf("scale %s to %d", other, replicas), func(leader *testNode) error {
		svc, err := leader.api().GetService(c.t.Context(), other, false)
		if err != nil {
			return err
		}
		// The service read shares its pointers with the store's
		// object: the mode is replaced, never changed in place.
		n := uint64(replicas)
		svc.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
		return leader.api().UpdateService(c.t.Context(), svc.ID, svc.Version.Index, svc.Spec, "")
	})
	c.want[other] = replicas
}

// write retries fn on whichever manager leads until it succeeds.
func (c *flapCluster) write(what string, fn func(leader *testNode) error) {
	c.t.Helper()
	eventually(c.t, 20*time.Second, func() string {
		if err := fn(leaderOf(c.t, c.nodes...)); err != nil {
			return fmt.Sprintf("%s: %v", what, err)
		}
		return ""
	})
}

// waitServed waits until every service written runs all its replicas.
func (c *flapCluster) waitServed() {
	c.t.Helper()
	eventually(c.t, 30*time.Second, func() string {
		return unserved(leaderOf(c.t, c.nodes...), c.want)
	})
}

// transfer asks leader's raft to hand leadership on. A transfer that
// times out leaves leadership where it was or moves it later: a flap
// either way.
func transfer(t *testing.T, leader *testNode) {
	_, mgr, _, _ := leader.node.snapshot()
	if err := mgr.raft.Raft().LeadershipTransfer().Error(); err != nil {
		t.Logf("leadership transfer from %s: %v", leader.name, err)
	}
}

// unserved describes the services, of those in want, that do not run
// their number of tasks in leader's store, with their tasks' states; ""
// when all do.
func unserved(leader *testNode, want map[string]int) string {
	_, mgr, _, _ := leader.node.snapshot()
	if mgr == nil {
		return leader.name + " runs no manager"
	}
	var out []string
	mgr.store.View(func(tx store.ReadTx) {
		byName := map[string]string{}
		for _, s := range store.All[*store.Service](tx) {
			byName[s.Spec.Annotations.Name] = s.ID
		}
		for name, replicas := range want {
			id, ok := byName[name]
			if !ok {
				out = append(out, name+": not in the store")
				continue
			}
			running := 0
			var states []string
			for _, tk := range store.TasksByService(tx, id) {
				if tk.Status.State == swarm.TaskStateRunning && tk.DesiredState == swarm.TaskStateRunning {
					running++
				}
				states = append(states, fmt.Sprintf("slot %d on %q %s→%s %q", tk.Slot, tk.NodeID, tk.Status.State, tk.DesiredState, tk.Status.Err))
			}
			if running != replicas {
				slices.Sort(states)
				out = append(out, fmt.Sprintf("%s: %d running, want %d (%s)", name, running, replicas, strings.Join(states, "; ")))
			}
		}
	})
	if len(out) > 0 {
		return leader.name + " leads; " + strings.Join(out, "\n")
	}
	return ""
}
