package consensus_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

func TestRecoverMakesALoneMemberLeadWithItsData(t *testing.T) {
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
	putService(t, st, "s1", "kept")
	// A second voter that never answers: from now on this member alone
	// is no quorum.
	n.Raft().AddVoter("m2", "m2", 0, 200*time.Millisecond)
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := consensus.Recover(consensus.Config{Dir: dir, LocalID: "m1", DEK: dek}, "m1"); err != nil {
		t.Fatal(err)
	}
	st2, n2, err := openAt(t, dir, "m1", dek)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Shutdown()
	waitLeading(t, n2)
	cf := n2.Raft().GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	if s := cf.Configuration().Servers; len(s) != 1 || s[0].ID != "m1" {
		t.Fatalf("got raft configuration %+v, want m1 alone", s)
	}
	putService(t, st2, "s2", "after-recovery")
	st2.View(func(tx store.ReadTx) {
		if store.Get[*store.Service](tx, "s1") == nil {
			t.Error("service s1 lost by recovery")
		}
	})
}
