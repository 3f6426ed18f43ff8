package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// sequencer applies each proposed batch at once at the next index, as a
// single-member raft log would.
type sequencer struct {
	s     *Store
	index uint64
	calls int
}

func (q *sequencer) Propose(_ context.Context, data []byte) error {
	q.calls++
	q.index++
	return q.s.ApplyBatch(q.index, data)
}

func newTestStore(t *testing.T) (*Store, *sequencer) {
	t.Helper()
	s := New()
	q := &sequencer{s: s}
	s.SetProposer(q)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	return s, q
}

func service(id, name string) *Service {
	return &Service{Service: swarm.Service{ID: id, Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name}}}}
}

func TestPutStampsMetaOnApply(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	if err := s.Update(ctx, func(tx *WriteTx) error { return tx.Put(service("svc1", "web")) }); err != nil {
		t.Fatal(err)
	}
	var first *Service
	s.View(func(tx ReadTx) { first = Get[*Service](tx, "svc1") })
	if first == nil || first.Version.Index != 1 || first.CreatedAt.IsZero() || !first.CreatedAt.Equal(first.UpdatedAt) {
		t.Fatalf("after create got %+v, want index 1 and CreatedAt == UpdatedAt", first)
	}
	if err := s.Update(ctx, func(tx *WriteTx) error {
		c := *Get[*Service](tx.ReadTx, "svc1")
		c.SpecVersion = 7
		return tx.Put(&c)
	}); err != nil {
		t.Fatal(err)
	}
	var second *Service
	s.View(func(tx ReadTx) { second = Get[*Service](tx, "svc1") })
	if second.Version.Index != 2 || !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.After(first.UpdatedAt) || second.SpecVersion != 7 {
		t.Fatalf("after update got %+v (first %+v), want index 2, same CreatedAt, later UpdatedAt", second, first)
	}
	if first.Version.Index != 1 {
		t.Fatalf("object read before the update changed: index %d", first.Version.Index)
	}
}

func TestUpdateSeesOwnWritesAndProposesOnce(t *testing.T) {
	s, q := newTestStore(t)
	err := s.Update(t.Context(), func(tx *WriteTx) error {
		if err := tx.Put(service("a", "web")); err != nil {
			return err
		}
		if got := ByName[*Service](tx.ReadTx, "web"); len(got) != 1 {
			t.Errorf("ByName inside the transaction got %d services, want 1", len(got))
		}
		return tx.Put(service("b", "db"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if q.calls != 1 {
		t.Fatalf("got %d proposals, want 1 batch", q.calls)
	}
}

func TestFailedUpdateChangesNothing(t *testing.T) {
	s, q := newTestStore(t)
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx *WriteTx) error {
		if err := tx.Put(service("a", "web")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	s.View(func(tx ReadTx) {
		if got := All[*Service](tx); len(got) != 0 {
			t.Errorf("got %d services after a failed update, want 0", len(got))
		}
	})
	if q.calls != 0 {
		t.Fatalf("got %d proposals, want 0", q.calls)
	}
}

func TestIndexesAndDelete(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	task := func(id, svc, node string) *Task {
		return &Task{Task: swarm.Task{ID: id, ServiceID: svc, NodeID: node}}
	}
	err := s.Update(ctx, func(tx *WriteTx) error {
		for _, o := range []object{task("t1", "s1", "n1"), task("t2", "s1", "n2"), task("t3", "s2", "n1"), task("t4", "s2", "")} {
			if err := tx.Put(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx ReadTx) {
		if got := len(TasksByService(tx, "s1")); got != 2 {
			t.Errorf("TasksByService(s1) = %d tasks, want 2", got)
		}
		if got := len(TasksByNode(tx, "n1")); got != 2 {
			t.Errorf("TasksByNode(n1) = %d tasks, want 2", got)
		}
		if got := len(ByIDPrefix[*Task](tx, "t")); got != 4 {
			t.Errorf("ByIDPrefix(t) = %d tasks, want 4", got)
		}
	})
	if err := s.Update(ctx, func(tx *WriteTx) error { return tx.Delete(task("t1", "", "")) }); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx ReadTx) {
		if Get[*Task](tx, "t1") != nil {
			t.Error("t1 still there after delete")
		}
		if got := len(TasksByNode(tx, "n1")); got != 1 {
			t.Errorf("TasksByNode(n1) after delete = %d, want 1", got)
		}
	})
}

func TestSubscriptionGetsEveryEvent(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	sub := s.Subscribe()
	defer sub.Close()
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Update(ctx, func(tx *WriteTx) error { return tx.Put(service(id, id)) }); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3", len(evs))
	}
	if got := evs[2].Object.(*Service).ID; got != "c" || evs[2].Op != OpPut {
		t.Fatalf("last event got %s %s, want put c", evs[2].Op, got)
	}
}

func TestSaveRestoreRoundTrip(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	if err := s.Update(ctx, func(tx *WriteTx) error {
		return tx.Put(&Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "c1"}}, UnlockKey: "k"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *WriteTx) error {
		if err := tx.Put(service("svc", "web")); err != nil {
			return err
		}
		sec := &Secret{}
		sec.ID, sec.Spec.Name, sec.Spec.Data = "sec1", "db-password", []byte("s3cret")
		if err := tx.Put(sec); err != nil {
			return err
		}
		cfg := &Config{}
		cfg.ID, cfg.Spec.Name, cfg.Spec.Data = "cfg1", "nginx.conf", []byte("worker_processes 1;")
		return tx.Put(cfg)
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	r := New()
	sub := r.Subscribe()
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if r.Index() != 2 {
		t.Fatalf("restored index %d, want 2", r.Index())
	}
	r.View(func(tx ReadTx) {
		if c := TheCluster(tx); c == nil || c.UnlockKey != "k" {
			t.Errorf("restored cluster %+v, want c1 with its unlock key", c)
		}
		if svc := Get[*Service](tx, "svc"); svc == nil || svc.Spec.Name != "web" || svc.Version.Index != 2 {
			t.Errorf("restored service %+v, want web at index 2", svc)
		}
		if sec := ByName[*Secret](tx, "db-password"); len(sec) != 1 || string(sec[0].Spec.Data) != "s3cret" {
			t.Errorf("restored secrets by name %+v, want db-password with its data", sec)
		}
		if cfg := Get[*Config](tx, "cfg1"); cfg == nil || string(cfg.Spec.Data) != "worker_processes 1;" {
			t.Errorf("restored config %+v, want nginx.conf with its data", cfg)
		}
	})
	if evs := sub.Drain(); len(evs) != 1 || evs[0].Op != OpReset {
		t.Fatalf("restore events %+v, want one reset", evs)
	}
}

func TestCloneIsDeep(t *testing.T) {
	orig := service("a", "web")
	orig.Spec.Labels = map[string]string{"k": "v"}
	c := Clone(orig)
	c.Spec.Labels["k"] = "changed"
	if orig.Spec.Labels["k"] != "v" {
		t.Fatal("changing the clone changed the original")
	}
}

// overtaker is a raft log in which, once, a batch of an earlier leader
// that this store had not applied yet comes before the one proposed: what
// a new leader sees when it decides before applying all its predecessor
// committed.
type overtaker struct {
	sequencer
	earlier []byte // applied before the next proposal, then cleared
}

func (o *overtaker) Propose(ctx context.Context, data []byte) error {
	if o.earlier != nil {
		o.index++
		if err := o.s.ApplyBatch(o.index, o.earlier); err != nil {
			return err
		}
		o.earlier = nil
	}
	return o.sequencer.Propose(ctx, data)
}

func TestUpdateDecidedOverAnOvertakenStateDecidesAgain(t *testing.T) {
	s, _ := newTestStore(t)
	o := &overtaker{sequencer: sequencer{s: s}}
	s.SetProposer(o)
	if err := s.Update(t.Context(), func(tx *WriteTx) error { return tx.Put(service("svc1", "web")) }); err != nil {
		t.Fatal(err)
	}
	// The earlier leader's write: a label, from version 1.
	earlier := service("svc1", "web")
	earlier.Spec.Labels = map[string]string{"by": "earlier leader"}
	data, err := json.Marshal(earlier)
	if err != nil {
		t.Fatal(err)
	}
	o.earlier, err = encodeBatch(Batch{Time: time.Unix(1, 0), Actions: []Action{{Op: OpPut, Table: tableService, Object: data}}, Base: 1})
	if err != nil {
		t.Fatal(err)
	}
	// This store's write, also from version 1: it must be decided again
	// over the earlier write, and refused as the API refuses a stale one.
	stale := errors.New("update out of sequence")
	runs := 0
	err = s.Update(t.Context(), func(tx *WriteTx) error {
		runs++
		cur := Get[*Service](tx.ReadTx, "svc1")
		if cur.Version.Index != 1 {
			return stale
		}
		c := Clone(cur)
		c.Spec.Labels = map[string]string{"by": "this leader"}
		return tx.Put(c)
	})
	if !errors.Is(err, stale) || runs != 2 {
		t.Fatalf("got %v after %d runs, want the update decided again and refused", err, runs)
	}
	s.View(func(tx ReadTx) {
		if got := Get[*Service](tx, "svc1"); got.Spec.Labels["by"] != "earlier leader" || got.Version.Index != 2 {
			t.Fatalf("got labels %v at version %d, want the earlier leader's write at 2", got.Spec.Labels, got.Version.Index)
		}
	})
}
