package node

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
)

// TestServicesServedAcrossContainerdOutages is finding 5's last fault
// (RELIABILITY.md) beside a leader change: while one manager's
// containerd is down for 2.7 s, every task prepared there fails, as
// Prepare does then (TestPrepareWhileContainerdIsKilled), a service is
// created and another scaled 2 → 1 → 2, and leadership moves. Once the
// outage is over, every service must run all its replicas: rejected
// tasks replaced (after the 5 s restart delay), none left assigned or
// preparing.
func TestServicesServedAcrossContainerdOutages(t *testing.T) {
	if testing.Short() {
		t.Skip("three managers through three containerd outages")
	}
	var down atomic.Bool
	outage := fakeexec.Config{Script: func(*swarm.Task) fakeexec.Script {
		if down.Load() {
			return fakeexec.Script{PrepareErr: errdefs.Unavailable("connection error: containerd.sock: connect: connection refused")}
		}
		return fakeexec.Script{}
	}}
	m1, m2, m3 := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNodeExec(t, "m3", outage)
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	m3.join(m1, swarm.NodeRoleManager)
	nodes := []*testNode{m1, m2, m3}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	want := map[string]int{}
	write := func(what string, fn func(leader *testNode) error) {
		t.Helper()
		eventually(t, 20*time.Second, func() string {
			if err := fn(leaderOf(t, nodes...)); err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
			return ""
		})
	}
	for round := range 3 {
		down.Store(true)
		began := time.Now()
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
			replicas := 3 - want[other]
			write(fmt.Sprintf("scale %s to %d", other, replicas), func(leader *testNode) error {
				svc, err := leader.api().GetService(t.Context(), other, false)
				if err != nil {
					return err
				}
				n := uint64(replicas)
				svc.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
				return leader.api().UpdateService(t.Context(), svc.ID, svc.Version.Index, svc.Spec, "")
			})
			want[other] = replicas
		}
		leader := leaderOf(t, nodes...)
		what := "transfer from " + leader.name
		if rng.IntN(2) == 0 {
			// A transfer that times out leaves leadership where it was
			// or moves it later: a flap either way.
			_, mgr, _, _ := leader.node.snapshot()
			if err := mgr.raft.Raft().LeadershipTransfer().Error(); err != nil {
				t.Logf("leadership transfer from %s: %v", leader.name, err)
			}
		} else {
			what = "restart of the leader " + leader.name
			leader.restart()
		}
		time.Sleep(time.Until(began.Add(2700 * time.Millisecond)))
		down.Store(false)
		healed := time.Now()
		eventually(t, 30*time.Second, func() string {
			return unserved(leaderOf(t, nodes...), want)
		})
		t.Logf("round %d (%s, then %s leads): every service runs its replicas %s after containerd came back",
			round, what, leaderOf(t, nodes...).name, time.Since(healed).Round(time.Millisecond))
	}
}
