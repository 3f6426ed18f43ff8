package node

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/testutil/plaintext"
)

// TestManagerEncryptsRaftWithItsKey checks what the consensus package's
// own test cannot: that a manager started by a node hands raft its data
// key. Secrets written through the control API, one before a snapshot and
// one after it, are in no file of the data root in any form, and neither
// the log entries nor the snapshot decode as the store's data without the
// key; the node restarted over the same files has them back.
func TestManagerEncryptsRaftWithItsKey(t *testing.T) {
	m1 := newTestNode(t, "m1")
	m1.init(testSpec())
	inSnapshot := []byte(`in the snapshot: <&> "s3cret" \ 1`)
	inLog := []byte(`in the log only: <&> "s3cret" \ 2`)
	createSecret(t, m1, "in-snapshot", inSnapshot)
	_, mgr, _, _ := m1.node.snapshot()
	if err := mgr.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	createSecret(t, m1, "in-log", inLog)
	m1.stop()

	for _, v := range [][]byte{inSnapshot, inLog} {
		hits, err := plaintext.Find(m1.dataRoot, v)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			t.Errorf("%s holds the secret %q in the clear", h, v)
		}
	}

	entries, decoded := decodeLogWithoutKey(t, raftDir(m1.node.dir))
	if entries == 0 {
		t.Fatal("the raft log holds no command entry: the test reads the wrong file")
	}
	if len(decoded) > 0 {
		t.Errorf("%d of %d raft log entries decode as store batches without the key: %v", len(decoded), entries, decoded)
	}
	snapshots, restored := restoreSnapshotsWithoutKey(t, raftDir(m1.node.dir))
	if snapshots == 0 {
		t.Fatal("no raft snapshot on disk: the test reads the wrong directory")
	}
	if len(restored) > 0 {
		t.Errorf("snapshots %v restore into a store without the key", restored)
	}

	m1.start()
	eventually(t, 10*time.Second, func() string {
		api, err := m1.node.Control()
		if err != nil {
			return err.Error()
		}
		for _, name := range []string{"in-snapshot", "in-log"} {
			if _, err := api.GetSecret(t.Context(), name); err != nil {
				return "after a restart with the key: " + err.Error()
			}
		}
		return ""
	})
}

func createSecret(t *testing.T, tn *testNode, name string, data []byte) {
	t.Helper()
	if _, err := tn.api().CreateSecret(t.Context(), swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}, Data: data}); err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
}

// decodeLogWithoutKey reads every command entry of the raft log in dir
// and applies it to a fresh store, as a manager without the data key
// would. It returns how many entries there are and which of them applied.
func decodeLogWithoutKey(t *testing.T, dir string) (entries int, decoded []uint64) {
	t.Helper()
	logs, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	first, err := logs.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	st := store.New()
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			t.Fatalf("raft log entry %d: %v", i, err)
		}
		if l.Type != raft.LogCommand || len(l.Data) == 0 {
			continue
		}
		entries++
		if st.ApplyBatch(i, l.Data) == nil {
			decoded = append(decoded, i)
		}
	}
	return entries, decoded
}

// restoreSnapshotsWithoutKey restores every snapshot in dir into a fresh
// store, as a manager without the data key would. It returns how many
// snapshots there are and which of them restored.
func restoreSnapshotsWithoutKey(t *testing.T, dir string) (snapshots int, restored []string) {
	t.Helper()
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	list, err := snaps.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		_, rc, err := snaps.Open(m.ID)
		if err != nil {
			t.Fatalf("open snapshot %s: %v", m.ID, err)
		}
		err = store.New().Restore(rc)
		rc.Close()
		if err == nil {
			restored = append(restored, m.ID)
		}
	}
	return len(list), restored
}
