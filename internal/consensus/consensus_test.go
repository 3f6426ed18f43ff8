package consensus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

func putService(t *testing.T, st *store.Store, id, name string) {
	t.Helper()
	err := st.Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Service{Service: swarm.Service{ID: id, Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name}}}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUpdateIsAppliedWhenProposeReturns(t *testing.T) {
	st := consensustest.NewStore(t)
	putService(t, st, "s1", "web")
	st.View(func(tx store.ReadTx) {
		svc := store.Get[*store.Service](tx, "s1")
		if svc == nil || svc.Version.Index == 0 {
			t.Fatalf("got %+v, want the service stamped with its raft index", svc)
		}
	})
}

// TestRestartRebuildsStore stops a manager and opens its raft directory
// again: the store must come back from snapshot plus log.
func TestRestartRebuildsStore(t *testing.T) {
	dir := t.TempDir()
	open := func() (*store.Store, *consensus.Node) {
		st := store.New()
		_, trans := raft.NewInmemTransport("m1")
		n, err := consensus.Open(consensus.Config{Dir: dir, LocalID: "m1", Transport: trans,
			HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}, st)
		if err != nil {
			t.Fatal(err)
		}
		return st, n
	}
	waitLeader := func(n *consensus.Node) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !n.IsLeader() {
			if time.Now().After(deadline) {
				t.Fatal("no leader")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	st, n := open()
	if err := n.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitLeader(n)
	putService(t, st, "s1", "before-snapshot")
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	putService(t, st, "s2", "after-snapshot")
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}

	st2, n2 := open()
	defer n2.Shutdown()
	waitLeader(n2)
	// Entries after the snapshot are applied once the restarted leader
	// commits; a barrier waits for exactly that.
	if err := n2.Raft().Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	st2.View(func(tx store.ReadTx) {
		for _, id := range []string{"s1", "s2"} {
			if store.Get[*store.Service](tx, id) == nil {
				t.Errorf("service %s lost across restart", id)
			}
		}
	})
}

func TestRunWhileLeaderRunsAndStops(t *testing.T) {
	_, n := consensustest.NewNode(t)
	ctx, cancel := context.WithCancel(t.Context())
	var running atomic.Int32
	started := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		n.RunWhileLeader(ctx, func(lctx context.Context) {
			running.Add(1)
			close(started)
			<-lctx.Done()
			running.Add(-1)
		})
		close(finished)
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("fn not started on the leader")
	}
	cancel()
	<-finished
	if got := running.Load(); got != 0 {
		t.Fatalf("got %d running after cancel, want 0", got)
	}
}

func TestProposeOnFollowerIsUnavailable(t *testing.T) {
	st := store.New()
	_, trans := raft.NewInmemTransport("lonely")
	n, err := consensus.Open(consensus.Config{Dir: t.TempDir(), LocalID: "lonely", Transport: trans}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	// Never bootstrapped: this node is not part of any group, so it cannot lead.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err = st.Update(ctx, func(tx *store.WriteTx) error {
		return tx.Put(&store.Service{Service: swarm.Service{ID: "x"}})
	})
	if !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Fatalf("got %v, want an Unavailable error", err)
	}
}
