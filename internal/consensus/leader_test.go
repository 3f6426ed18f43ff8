package consensus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/store"
)

// TestRunWhileLeaderStopsWhenLeadershipMoves hands leadership from one
// member of a two-member group to the other: what ran on the old leader
// must stop and start on the new one, so that two managers never run the
// controllers at once.
func TestRunWhileLeaderStopsWhenLeadershipMoves(t *testing.T) {
	ids := []string{"m1", "m2"}
	trans := map[string]*raft.InmemTransport{}
	for _, id := range ids {
		_, trans[id] = raft.NewInmemTransport(raft.ServerAddress(id))
	}
	trans["m1"].Connect("m2", trans["m2"])
	trans["m2"].Connect("m1", trans["m1"])
	nodes := map[string]*consensus.Node{}
	for _, id := range ids {
		n, err := consensus.Open(consensus.Config{Dir: t.TempDir(), LocalID: id, Transport: trans[id],
			HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}, store.New())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Shutdown() })
		nodes[id] = n
	}
	if err := nodes["m1"].Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitLeading(t, nodes["m1"])
	if err := nodes["m1"].Raft().AddVoter("m2", "m2", 0, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	running := map[string]bool{}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			nodes[id].RunWhileLeader(ctx, func(lctx context.Context) {
				mu.Lock()
				running[id] = true
				mu.Unlock()
				<-lctx.Done()
				mu.Lock()
				running[id] = false
				mu.Unlock()
			})
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitRunning := func(want map[string]bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := fmt.Sprint(running)
			mu.Unlock()
			if got == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s running on %s, want %s", got, fmt.Sprint(want))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitRunning(map[string]bool{"m1": true})
	// With 50 ms timeouts a loaded machine can let one transfer time out
	// ("leadership transfer timeout"); what is under test is what runs
	// after leadership moved, so the move is tried again.
	var err error
	for range 10 {
		if nodes["m2"].Raft().State() == raft.Leader {
			break
		}
		if err = nodes["m1"].Raft().LeadershipTransferToServer("m2", "m2").Error(); err == nil {
			break
		}
		t.Logf("leadership transfer: %v; trying again", err)
	}
	if nodes["m2"].Raft().State() != raft.Leader && err != nil {
		t.Fatal(err)
	}
	waitRunning(map[string]bool{"m1": false, "m2": true})
}

// TestRunWhileLeaderRestartsWorkThatReturns: the leader's work that
// returns while this node still leads is run again, so that a leader never
// answers the API while running none of its controllers (finding 5's
// shape).
func TestRunWhileLeaderRestartsWorkThatReturns(t *testing.T) {
	_, n := consensustest.NewNode(t)
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan int, 4)
	count := 0
	var wg sync.WaitGroup
	wg.Go(func() {
		n.RunWhileLeader(ctx, func(lctx context.Context) {
			count++
			calls <- count
			if count == 1 {
				return // a part of the work that gave up
			}
			<-lctx.Done()
		})
	})
	defer func() { cancel(); wg.Wait() }()
	for want := 1; want <= 2; want++ {
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("run %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the leader's work ran %d times in 10 s, want %d: it was not run again after it returned", want-1, want)
		}
	}
}
