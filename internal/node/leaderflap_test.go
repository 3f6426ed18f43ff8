package node

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

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
	m1, m2, m3 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNode(t, "m3")
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	m3.join(m1, swarm.NodeRoleManager)
	nodes := []*testNode{m1, m2, m3}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	transfer := func(leader *testNode) {
		_, mgr, _, _ := leader.node.snapshot()
		// A transfer that times out leaves leadership where it was or
		// moves it later: a flap either way.
		if err := mgr.raft.Raft().LeadershipTransfer().Error(); err != nil {
			t.Logf("leadership transfer from %s: %v", leader.name, err)
		}
	}
	want := map[string]int{} // service name → replicas
	write := func(what string, fn func(leader *testNode) error) {
		t.Helper()
		eventually(t, 20*time.Second, func() string {
			if err := fn(leaderOf(t, nodes...)); err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
			return ""
		})
	}
	for round := range 12 {
		// The writes come just before the flap, as in finding 5's
		// schedule: a leader change between a write and the
		// controllers' passes over it.
		name := fmt.Sprintf("svc-%d", round)
		write("create "+name, func(leader *testNode) error {
			n := uint64(2)
			_, err := leader.api().CreateService(t.Context(), swarm.ServiceSpec{
				Annotations:  swarm.Annotations{Name: name},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
				Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
			})
			return err
		})
		want[name] = 2
		if round > 0 {
			other := fmt.Sprintf("svc-%d", rng.IntN(round))
			replicas := 3 - want[other] // 2 → 1 → 2, as svc-b was scaled
			write(fmt.Sprintf("scale %s to %d", other, replicas), func(leader *testNode) error {
				svc, err := leader.api().GetService(t.Context(), other, false)
				if err != nil {
					return err
				}
				// The service read shares its pointers with the store's
				// object: the mode is replaced, never changed in place.
				n := uint64(replicas)
				svc.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
				return leader.api().UpdateService(t.Context(), svc.ID, svc.Version.Index, svc.Spec, "")
			})
			want[other] = replicas
		}
		leader := leaderOf(t, nodes...)
		var what string
		switch rng.IntN(3) {
		case 0:
			what = "transfer from " + leader.name
			transfer(leader)
		case 1:
			what = "transfer from " + leader.name + " and straight on"
			transfer(leader)
			for _, n := range nodes {
				if n.isLeader() {
					transfer(n)
				}
			}
		case 2:
			what = "restart of the leader " + leader.name
			leader.restart()
		}
		start := time.Now()
		eventually(t, 30*time.Second, func() string {
			return unserved(leaderOf(t, nodes...), want)
		})
		t.Logf("round %d (%s, then %s leads): every service runs its replicas %s after the flap",
			round, what, leaderOf(t, nodes...).name, time.Since(start).Round(time.Millisecond))
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
