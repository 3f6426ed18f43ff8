package consensus_test

import (
	"bytes"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// TestStateSeedsANewGroup takes the state of a serving member while
// writes go on, twice in a row (the second with nothing new to snapshot),
// seeds a new member elsewhere with it and checks that the new group
// serves the same objects at the same versions, and that its next change
// comes after them.
func TestStateSeedsANewGroup(t *testing.T) {
	dek := make([]byte, consensus.DEKSize)
	rand.Read(dek)
	st, n, err := openAt(t, t.TempDir(), "m1", dek)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if err := n.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitLeading(t, n)
	putService(t, st, "s1", "web")
	putService(t, st, "s2", "db")
	putService(t, st, "busy", "written before")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				// Not putService: t.Fatal belongs to the test's goroutine.
				st.Update(t.Context(), func(tx *store.WriteTx) error {
					return tx.Put(&store.Service{Service: swarm.Service{ID: "busy", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "written meanwhile"}}}})
				})
			}
		}
	})
	state, err := n.State()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	again, err := n.State()
	if err != nil {
		t.Fatalf("a second backup with nothing new: %v", err)
	}
	saved := store.New()
	if err := saved.Restore(bytes.NewReader(again)); err != nil {
		t.Fatal(err)
	}
	if saved.Index() != st.Index() {
		t.Errorf("a state with nothing new since is at index %d, want the store's %d", saved.Index(), st.Index())
	}

	dir := t.TempDir()
	dek2 := make([]byte, consensus.DEKSize)
	rand.Read(dek2)
	if err := consensus.Seed(consensus.Config{Dir: dir, LocalID: "r1", DEK: dek2}, "r1", state); err != nil {
		t.Fatal(err)
	}
	if err := consensus.Seed(consensus.Config{Dir: dir, LocalID: "r1", DEK: dek2}, "r1", state); err == nil {
		t.Error("seeded a directory that holds raft state already")
	}
	want := store.New()
	if err := want.Restore(bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	st2, n2, err := openAt(t, dir, "r1", dek2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Shutdown()
	waitLeading(t, n2)
	if st2.Index() != want.Index() {
		t.Errorf("seeded store at index %d, want %d", st2.Index(), want.Index())
	}
	for _, id := range []string{"s1", "s2", "busy"} {
		var got, exp *store.Service
		st2.View(func(tx store.ReadTx) { got = store.Get[*store.Service](tx, id) })
		want.View(func(tx store.ReadTx) { exp = store.Get[*store.Service](tx, id) })
		if got == nil || exp == nil || got.Version != exp.Version || got.Spec.Name != exp.Spec.Name {
			t.Errorf("service %s: got %+v, want %+v", id, got, exp)
		}
	}
	putService(t, st2, "s3", "after")
	st2.View(func(tx store.ReadTx) {
		if s := store.Get[*store.Service](tx, "s3"); s == nil || s.Version.Index <= want.Index() {
			t.Errorf("a change after the seed got version %+v, want one past %d", s, want.Index())
		}
	})
}
