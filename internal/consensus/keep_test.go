package consensus_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// TestSetLogRetention: a swarm's Raft settings reach the running member —
// the snapshot threshold and trailing logs in raft's configuration, and
// old snapshots pruned to KeepOldSnapshots after each new one.
func TestSetLogRetention(t *testing.T) {
	dir := t.TempDir()
	st := store.New()
	_, trans := raft.NewInmemTransport("")
	n, err := consensus.Open(consensus.Config{Dir: dir, LocalID: "m1", Transport: trans,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if err := n.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	for !n.IsLeader() {
		time.Sleep(5 * time.Millisecond)
	}
	snapshots := func() int {
		entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	snapshotAfterWrites := func(k int) {
		t.Helper()
		for i := range 3 {
			putService(t, st, fmt.Sprintf("s%d-%d", k, i), fmt.Sprintf("svc%d-%d", k, i))
		}
		if err := n.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}

	if err := n.SetLogRetention(5000, 1200, 0); err != nil {
		t.Fatal(err)
	}
	if rc := n.Raft().ReloadableConfig(); rc.SnapshotThreshold != 5000 || rc.TrailingLogs != 1200 {
		t.Fatalf("raft config got threshold %d trailing %d, want 5000 and 1200", rc.SnapshotThreshold, rc.TrailingLogs)
	}
	for k := range 3 {
		snapshotAfterWrites(k)
	}
	if got := snapshots(); got != 1 {
		t.Fatalf("with KeepOldSnapshots 0 got %d snapshots, want 1", got)
	}
	if err := n.SetLogRetention(0, 0, 2); err != nil {
		t.Fatal(err)
	}
	if rc := n.Raft().ReloadableConfig(); rc.SnapshotThreshold != 5000 || rc.TrailingLogs != 1200 {
		t.Fatalf("zero intervals changed raft config: threshold %d trailing %d", rc.SnapshotThreshold, rc.TrailingLogs)
	}
	for k := 3; k < 7; k++ {
		snapshotAfterWrites(k)
	}
	if got := snapshots(); got != 3 {
		t.Fatalf("with KeepOldSnapshots 2 got %d snapshots, want 3", got)
	}
}
