// Package store holds the cluster's objects in go-memdb tables. The tables
// change only by applying committed batches, so every manager that applies
// the same raft log holds the same state. Readers get consistent snapshots;
// writers build a batch inside Update on the leader, which is proposed
// through raft and applied when committed.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/metrics"
)

// Proposer replicates a batch. Propose returns once data is committed and
// applied to this store (raft's Apply future does exactly that on the
// leader), or with an error when it was not committed.
type Proposer interface {
	Propose(ctx context.Context, data []byte) error
}

// Store is the in-memory state of the cluster.
type Store struct {
	db    atomic.Pointer[memdb.MemDB] // replaced whole by Restore
	index atomic.Uint64               // raft index of the last applied batch

	// updateMu serialises Update so that each writer sees the result of
	// the one before: writers never conflict with each other, only with
	// the versions users send.
	updateMu sync.Mutex
	proposer Proposer // set once by SetProposer, before the first Update
	// proposed is the batch Update is proposing, nil when none.
	proposed atomic.Pointer[proposal]
	now      func() time.Time

	subsMu sync.Mutex
	subs   map[*Subscription]struct{} // guarded by subsMu
}

// New returns an empty store.
func New() *Store {
	s := &Store{now: clock.Now, subs: map[*Subscription]struct{}{}}
	s.db.Store(newDB())
	return s
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic(err) // the schema is static: an error is a programming error
	}
	// A snapshot is a full MemDB that does not track mutations for
	// memdb's watch channels. The store never uses them (Subscribe is
	// its notification), and tracking costs a walk of the whole index on
	// every commit that changes more than a few thousand nodes.
	return db.Snapshot()
}

// SetProposer sets how Update replicates its batches.
func (s *Store) SetProposer(p Proposer) { s.proposer = p }

// Index returns the raft index of the last applied batch.
func (s *Store) Index() uint64 { return s.index.Load() }

// View runs fn over a consistent snapshot of the store. Objects read are
// shared: never modify one, copy it first.
func (s *Store) View(fn func(tx ReadTx)) {
	defer observeSince(metrics.StoreReadTxLatency, time.Now())
	fn(ReadTx{txn: s.db.Load().Txn(false)})
}

func observeSince(h prometheus.Observer, start time.Time) { h.Observe(time.Since(start).Seconds()) }

// ErrStaleBatch refuses a batch decided over a state that other batches
// changed before it was applied: on a leader, those of an earlier leader
// that it had not applied yet when it decided.
var ErrStaleBatch = errors.New("store: the batch was decided over a state that changed before it applied")

// staleRetries bounds how often Update decides again over a newer state.
const staleRetries = 5

// Update runs fn in a write transaction that sees its own changes, then
// proposes what fn wrote as one batch and returns when it is applied. If fn
// fails or writes nothing, nothing is proposed. A batch that another one
// overtook is refused where it would apply (ErrStaleBatch), and fn runs
// again over the newer state, so what fn checked always holds when its
// changes apply.
func (s *Store) Update(ctx context.Context, fn func(tx *WriteTx) error) error {
	defer observeSince(metrics.StoreWriteTxLatency, time.Now())
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	if s.proposer == nil {
		return fmt.Errorf("store: no proposer: this node does not write the cluster state")
	}
	for range staleRetries {
		if err := s.update(ctx, fn); !errors.Is(err, ErrStaleBatch) {
			return err
		}
	}
	return &errdefs.Error{Kind: errdefs.KindUnavailable, Msg: "the swarm's state kept changing under this write; try again", Err: ErrStaleBatch}
}

func (s *Store) update(ctx context.Context, fn func(tx *WriteTx) error) error {
	// The index first, then the snapshot: the snapshot holds at least
	// what the index says, so a batch the snapshot already held is
	// refused (and decided again), never missed.
	base := s.index.Load()
	// fn reads a snapshot with its own writes laid over it (overlay); the
	// tables themselves change only when the batch comes back through
	// ApplyBatch.
	tx := &WriteTx{ReadTx: ReadTx{txn: s.db.Load().Txn(false), own: &overlay{}}}
	if err := fn(tx); err != nil {
		return err
	}
	if len(tx.actions) == 0 {
		return nil
	}
	data, err := encodeBatch(Batch{Time: s.now().UTC(), Actions: tx.actions, Base: base})
	if err != nil {
		return err
	}
	// Raft hands the leader's own entry back to ApplyBatch as the same
	// slice, which lets it keep the objects fn wrote instead of decoding
	// them again.
	s.proposed.Store(&proposal{data: data, objects: tx.objects})
	defer s.proposed.Store(nil)
	return s.proposer.Propose(ctx, data)
}

// proposal is the batch this store's Update is proposing.
type proposal struct {
	data    []byte
	objects []object // the objects of data's actions, in order
}

// objectsFor returns the objects of the batch data when it is this
// proposal's, nil otherwise.
func (p *proposal) objectsFor(data []byte) []object {
	if p == nil || len(p.data) == 0 || len(p.data) != len(data) || &p.data[0] != &data[0] {
		return nil
	}
	return p.objects
}

// ApplyBatch applies a committed batch at raft index idx. Meta is stamped
// here, identically on every replica: Version.Index = idx, UpdatedAt = the
// batch's time, CreatedAt kept from the stored object.
func (s *Store) ApplyBatch(idx uint64, data []byte) error {
	defer observeSince(metrics.StoreBatchLatency, time.Now())
	b, err := decodeBatch(data)
	if err != nil {
		return fmt.Errorf("store: decode batch %d: %w", idx, err)
	}
	// Every replica applies the same log, so every one refuses the same
	// batches. Entries that are not batches (raft's own) leave the index.
	if b.Base != 0 && b.Base != s.index.Load() {
		return ErrStaleBatch
	}
	mine := s.proposed.Load().objectsFor(data)
	txn := s.db.Load().Txn(true)
	defer txn.Abort()
	events := make([]Event, 0, len(b.Actions))
	for i, a := range b.Actions {
		o, err := actionObject(a, mine, i)
		if err != nil {
			return fmt.Errorf("store: batch %d: %w", idx, err)
		}
		old, err := txn.First(a.Table, indexID, o.objectID())
		if err != nil {
			return fmt.Errorf("store: batch %d: %w", idx, err)
		}
		switch a.Op {
		case OpPut:
			m := o.meta()
			m.Version.Index = idx
			m.UpdatedAt = b.Time
			if old != nil {
				m.CreatedAt = old.(object).meta().CreatedAt
			} else {
				m.CreatedAt = b.Time
			}
			if err := txn.Insert(a.Table, o); err != nil {
				return fmt.Errorf("store: batch %d: %w", idx, err)
			}
		case OpDelete:
			if old == nil {
				continue
			}
			if err := txn.Delete(a.Table, old); err != nil {
				return fmt.Errorf("store: batch %d: %w", idx, err)
			}
			o = old.(object)
		default:
			return fmt.Errorf("store: batch %d: unknown op %q", idx, a.Op)
		}
		events = append(events, Event{Op: a.Op, Object: o, Index: idx, Time: b.Time})
	}
	txn.Commit()
	s.index.Store(idx)
	s.publish(events)
	return nil
}

// actionObject returns the object action i puts or deletes, to be stored
// and stamped. A task this store proposed itself is a copy of the one its
// writer put, which the writer no longer changes; everything else is
// decoded, so that services, nodes and the cluster are exactly what their
// JSON says, as on every other replica.
func actionObject(a Action, mine []object, i int) (object, error) {
	if i < len(mine) {
		if t, ok := mine[i].(*Task); ok && a.Table == tableTask {
			c := *t
			return &c, nil
		}
	}
	o := newObject(a.Table)
	if o == nil {
		return nil, fmt.Errorf("unknown table %q", a.Table)
	}
	if err := json.Unmarshal(a.Object, o); err != nil {
		return nil, fmt.Errorf("decode %s: %w", a.Table, err)
	}
	return o, nil
}

// snapshot is the serialised form of the whole store.
type snapshot struct {
	Index  uint64
	Tables map[string][]json.RawMessage
}

// Save writes the whole store; Restore reads it back.
func (s *Store) Save(w io.Writer) error {
	txn := s.db.Load().Txn(false)
	snap := snapshot{Index: s.index.Load(), Tables: map[string][]json.RawMessage{}}
	for table := range indexFuncs {
		it, err := txn.Get(table, indexID)
		if err != nil {
			return err
		}
		for o := it.Next(); o != nil; o = it.Next() {
			data, err := json.Marshal(o)
			if err != nil {
				return err
			}
			snap.Tables[table] = append(snap.Tables[table], data)
		}
	}
	return json.NewEncoder(w).Encode(snap)
}

// Restore replaces the whole store with a snapshot written by Save.
func (s *Store) Restore(r io.Reader) error {
	var snap snapshot
	if err := json.NewDecoder(r).Decode(&snap); err != nil {
		return fmt.Errorf("store: decode snapshot: %w", err)
	}
	db := newDB()
	txn := db.Txn(true)
	for table, objs := range snap.Tables {
		for _, data := range objs {
			o := newObject(table)
			if o == nil {
				return fmt.Errorf("store: snapshot: unknown table %q", table)
			}
			if err := json.Unmarshal(data, o); err != nil {
				return fmt.Errorf("store: snapshot: decode %s: %w", table, err)
			}
			if err := txn.Insert(table, o); err != nil {
				return err
			}
		}
	}
	txn.Commit()
	s.db.Store(db)
	s.index.Store(snap.Index)
	s.publish([]Event{{Op: OpReset, Index: snap.Index}})
	return nil
}
