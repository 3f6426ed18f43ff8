// Package consensustest gives tests a store replicated by a real,
// single-member hashicorp/raft group (bbolt log in a temp dir, in-memory
// transport), so that what tests write goes the path production writes go.
package consensustest

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// NewStore returns a store whose updates are committed through raft, with
// this node already the leader.
func NewStore(t testing.TB) *store.Store {
	st, _ := NewNode(t)
	return st
}

// NewNode is NewStore that also returns the raft node.
func NewNode(t testing.TB) (*store.Store, *consensus.Node) {
	t.Helper()
	st := store.New()
	_, trans := raft.NewInmemTransport("")
	n, err := consensus.Open(consensus.Config{
		Dir:              t.TempDir(),
		LocalID:          "test-manager",
		Transport:        trans,
		HeartbeatTimeout: 50 * time.Millisecond,
		ElectionTimeout:  50 * time.Millisecond,
		// Lease must be below the heartbeat timeout.
		LeaderLeaseTimeout: 50 * time.Millisecond,
	}, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	if err := n.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !n.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("raft: no leader after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return st, n
}
