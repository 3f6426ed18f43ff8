package consensus_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// openAt opens a raft directory as a single member reachable at id.
func openAt(t *testing.T, dir, id string, dek []byte) (*store.Store, *consensus.Node, error) {
	t.Helper()
	st := store.New()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(id))
	n, err := consensus.Open(consensus.Config{Dir: dir, LocalID: id, Transport: trans, DEK: dek,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}, st)
	return st, n, err
}

func waitLeading(t *testing.T, n *consensus.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !n.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// filesContain reports whether any file under dir holds s.
func filesContain(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

func TestDEKEncryptsLogAndSnapshotsAtRest(t *testing.T) {
	dir := t.TempDir()
	dek := make([]byte, consensus.DEKSize)
	rand.Read(dek)
	st, n, err := openAt(t, dir, "m1", dek)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitLeading(t, n)
	putService(t, st, "s1", "secret-in-snapshot")
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	putService(t, st, "s2", "secret-in-log")
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"secret-in-snapshot", "secret-in-log"} {
		if hits := filesContain(t, dir, s); len(hits) > 0 {
			t.Errorf("%q is in plaintext in %v", s, hits)
		}
	}

	wrong := bytes.Clone(dek)
	wrong[0] ^= 1
	if _, n, err := openAt(t, dir, "m1", wrong); err == nil {
		n.Shutdown()
		t.Fatal("raft state opened with a wrong data-encryption key")
	} else if !strings.Contains(err.Error(), "decrypt") {
		t.Fatalf("opening with a wrong key: got %v, want a decryption error", err)
	}

	st2, n2, err := openAt(t, dir, "m1", dek)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Shutdown()
	waitLeading(t, n2)
	if err := n2.Raft().Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	st2.View(func(tx store.ReadTx) {
		for _, id := range []string{"s1", "s2"} {
			if store.Get[*store.Service](tx, id) == nil {
				t.Errorf("service %s lost across an encrypted restart", id)
			}
		}
	})
}
