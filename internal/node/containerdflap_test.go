package node

import (
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
	c := newFlapCluster(t, outage)
	for round := range 3 {
		down.Store(true)
		began := time.Now()
		c.createAndScale(round)
		leader := leaderOf(t, c.nodes...)
		what := "transfer from " + leader.name
		if c.rng.IntN(2) == 0 {
			transfer(t, leader)
		} else {
			what = "restart of the leader " + leader.name
			leader.restart()
		}
		time.Sleep(time.Until(began.Add(2700 * time.Millisecond)))
		down.Store(false)
		healed := time.Now()
		c.waitServed()
		t.Logf("round %d (%s, then %s leads): every service runs its replicas %s after containerd came back",
			round, what, leaderOf(t, c.nodes...).name, time.Since(healed).Round(time.Millisecond))
	}
}
