package consensus

import (
	"sync/atomic"
	"testing"
	"time"
)

// fakeConfirm is a confirmation held until the test releases it: it takes
// its index (the fake store's) when it starts and reports it on started.
type fakeConfirm struct {
	store   atomic.Uint64
	calls   atomic.Int64
	started chan uint64
	release chan struct{}
}

func newFakeConfirm() *fakeConfirm {
	return &fakeConfirm{started: make(chan uint64), release: make(chan struct{})}
}

// nextStart waits for the next confirmation to start and returns its
// index.
func (f *fakeConfirm) nextStart(t *testing.T) uint64 {
	t.Helper()
	select {
	case idx := <-f.started:
		return idx
	case <-time.After(10 * time.Second):
		t.Fatal("no confirmation started")
		return 0
	}
}

func (f *fakeConfirm) confirm() (uint64, error) {
	f.calls.Add(1)
	idx := f.store.Load()
	f.started <- idx
	<-f.release
	return idx, nil
}

// A read that arrives while a confirmation is in flight must not be
// answered by it: that confirmation's index was taken before the read
// arrived, and may miss a write acknowledged just before the read. It
// waits for the next round, whose index is taken after it joined.
func TestReadRoundsNoIndexFromBeforeTheRead(t *testing.T) {
	f := newFakeConfirm()
	rs := &readRounds{confirm: f.confirm}
	f.store.Store(1)
	first := rs.join()
	if idx := f.nextStart(t); idx != 1 {
		t.Fatalf("first round took index %d, want 1", idx)
	}
	// A write is acknowledged while the first confirmation is in
	// flight, then a read arrives.
	f.store.Store(2)
	late := rs.join()
	f.release <- struct{}{}
	if idx, err := first.wait(t.Context()); idx != 1 || err != nil {
		t.Fatalf("first read: %d, %v; want 1", idx, err)
	}
	select {
	case idx := <-f.started:
		if idx != 2 {
			t.Fatalf("the late read's round took index %d, want 2", idx)
		}
	case <-late.done:
		t.Fatalf("a read that arrived during a confirmation was answered by it, with index %d from before it arrived (the write at 2 unseen)", late.idx)
	}
	f.release <- struct{}{}
	if idx, err := late.wait(t.Context()); idx != 2 || err != nil {
		t.Fatalf("late read: %d, %v; want 2", idx, err)
	}
}

// Reads that arrive while a confirmation is in flight share one
// confirmation, the next.
func TestReadRoundsBatch(t *testing.T) {
	f := newFakeConfirm()
	rs := &readRounds{confirm: f.confirm}
	first := rs.join()
	f.nextStart(t)
	f.store.Store(7)
	var waiting []*readRound
	for range 50 {
		waiting = append(waiting, rs.join())
	}
	f.release <- struct{}{}
	if idx := f.nextStart(t); idx != 7 {
		t.Fatalf("the second round took index %d, want 7", idx)
	}
	f.release <- struct{}{}
	if _, err := first.wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, r := range waiting {
		if idx, err := r.wait(t.Context()); idx != 7 || err != nil {
			t.Fatalf("batched read: %d, %v; want 7", idx, err)
		}
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("51 reads took %d confirmations, want 2 (the first, then one for the 50 that came during it)", n)
	}
}
