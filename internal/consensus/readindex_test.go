package consensus_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// TestReadIndex: the leader's read index covers every acknowledged write;
// a follower has none to give; and a leader cut off from the others
// refuses instead of handing out the index of a state a new leader may
// already have moved past.
func TestReadIndex(t *testing.T) {
	ids := []string{"m1", "m2", "m3"}
	trans := map[string]*raft.InmemTransport{}
	for _, id := range ids {
		_, trans[id] = raft.NewInmemTransport(raft.ServerAddress(id))
	}
	for _, a := range ids {
		for _, b := range ids {
			if a != b {
				trans[a].Connect(raft.ServerAddress(b), trans[b])
			}
		}
	}
	nodes := map[string]*consensus.Node{}
	stores := map[string]*store.Store{}
	for _, id := range ids {
		st := store.New()
		n, err := consensus.Open(consensus.Config{Dir: t.TempDir(), LocalID: id, Transport: trans[id],
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 200 * time.Millisecond}, st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Shutdown() })
		nodes[id], stores[id] = n, st
	}
	if err := nodes["m1"].Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitLeading(t, nodes["m1"])
	for _, id := range ids[1:] {
		if err := nodes["m1"].Raft().AddVoter(raft.ServerID(id), raft.ServerAddress(id), 0, 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := stores["m1"].Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Service{Service: swarm.Service{ID: "acknowledged"}})
	}); err != nil {
		t.Fatal(err)
	}
	written := stores["m1"].Index()

	idx, err := nodes["m1"].ReadIndex(t.Context())
	if err != nil || idx < written {
		t.Fatalf("leader's read index: %d, %v; want at least %d, the acknowledged write's", idx, err, written)
	}
	if _, err := nodes["m2"].ReadIndex(t.Context()); err == nil {
		t.Fatal("a follower gave a read index")
	}

	for _, id := range ids[1:] {
		trans["m1"].Disconnect(raft.ServerAddress(id))
		trans[id].Disconnect("m1")
	}
	// Heartbeats answered before the cut count for a verification that
	// starts while they are on their way (hashicorp/raft notifies every
	// waiting verification on a response): let those land first. The
	// leader still believes it leads until its 200 ms lease runs out.
	time.Sleep(60 * time.Millisecond)
	if !nodes["m1"].IsLeader() {
		t.Fatal("the cut-off leader stepped down before its lease ran out; the test proves nothing")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if idx, err := nodes["m1"].ReadIndex(ctx); err == nil {
		t.Fatalf("a leader cut off from its quorum gave read index %d", idx)
	}
}
