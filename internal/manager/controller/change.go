package controller

import (
	"context"
	"fmt"
	"maps"

	"github.com/shoal-project/shoal/internal/store"
)

// Change is one decision, applied whole or not at all. Every object it
// puts or deletes carries the Version.Index it was read at (zero for a new
// object); Apply skips the change when any of them has moved on since the
// snapshot, because the decision may no longer hold. The next pass decides
// again from fresh state.
type Change struct {
	Tasks    []*store.Task    // to create or replace
	Services []*store.Service // to replace
	Deletes  []*store.Task    // to delete
	// Slots are the task sets the decision was made from. The change is
	// skipped when a task was added to, removed from or changed in one of
	// them, which catches two controllers adding a task to the same slot.
	Slots []SlotGuard
}

// SlotGuard names the tasks of one slot as the snapshot had them. Slots
// are grouped as orchestrator.Slots groups them.
type SlotGuard struct {
	ServiceID string
	Slot      int    // replicated slot; 0 for a global service's slot
	NodeID    string // the global slot's node; ignored when Slot > 0
	Tasks     map[string]uint64
}

// Guard returns the guard of a slot holding tasks.
func Guard(serviceID string, slot int, nodeID string, tasks []*store.Task) SlotGuard {
	g := SlotGuard{ServiceID: serviceID, Slot: slot, NodeID: nodeID, Tasks: make(map[string]uint64, len(tasks))}
	if slot > 0 {
		g.NodeID = ""
	}
	for _, t := range tasks {
		g.Tasks[t.ID] = t.Version.Index
	}
	return g
}

func (c *Change) size() int { return len(c.Tasks) + len(c.Services) + len(c.Deletes) }

// MaxBatch bounds the objects written in one store update, and
// MaxBatchBytes their encoded size, so that one pass over a huge cluster,
// or over tasks of a large spec, does not become one huge raft entry. A
// change larger than MaxBatchBytes on its own goes alone.
const (
	MaxBatch      = 5000
	MaxBatchBytes = 8 << 20
)

// Apply applies changes in as few store updates as MaxBatch and
// MaxBatchBytes allow, skipping the stale ones. It returns how many
// changes were applied and how many were skipped as stale.
func Apply(ctx context.Context, st *store.Store, changes []Change) (applied, stale int, err error) {
	for len(changes) > 0 {
		var n, a, s int
		err := st.Update(ctx, func(tx *store.WriteTx) error {
			n, a, s = 0, 0, 0
			size := 0
			slots := slotReader{tx: tx.ReadTx}
			for n < len(changes) && (n == 0 || size+changes[n].size() <= MaxBatch && tx.Size() < MaxBatchBytes) {
				c := &changes[n]
				n++
				size += c.size()
				if !current(tx.ReadTx, &slots, c) {
					s++
					continue
				}
				if err := write(tx, c); err != nil {
					return err
				}
				a++
			}
			return nil
		})
		if err != nil {
			return applied, stale, fmt.Errorf("apply %d changes: %w", max(n, 1), err)
		}
		changes = changes[n:]
		applied += a
		stale += s
	}
	return applied, stale, nil
}

// current reports whether everything c was decided from is unchanged.
func current(tx store.ReadTx, slots *slotReader, c *Change) bool {
	for _, t := range c.Tasks {
		if !sameVersion(store.Get[*store.Task](tx, t.ID), t.Version.Index) {
			return false
		}
	}
	for _, t := range c.Deletes {
		if cur := store.Get[*store.Task](tx, t.ID); cur == nil || cur.Version.Index != t.Version.Index {
			return false
		}
	}
	for _, s := range c.Services {
		if !sameVersion(store.Get[*store.Service](tx, s.ID), s.Version.Index) {
			return false
		}
	}
	for _, g := range c.Slots {
		if !maps.Equal(slots.slot(g), g.Tasks) {
			return false
		}
	}
	return true
}

// sameVersion reports whether the stored object is still at index; index
// zero means the object must not exist yet.
func sameVersion[T *store.Task | *store.Service](cur T, index uint64) bool {
	if cur == nil {
		return index == 0
	}
	switch o := any(cur).(type) {
	case *store.Task:
		return o.Version.Index == index
	case *store.Service:
		return o.Version.Index == index
	}
	return false
}

func write(tx *store.WriteTx, c *Change) error {
	for _, t := range c.Tasks {
		if err := tx.Put(t); err != nil {
			return err
		}
	}
	for _, s := range c.Services {
		if err := tx.Put(s); err != nil {
			return err
		}
	}
	for _, t := range c.Deletes {
		if err := tx.Delete(t); err != nil {
			return err
		}
	}
	return nil
}

// slotReader reads the slots of a service once per update, so guards cost
// one index scan per service. It may read after earlier changes of the
// same batch were written; that is harmless because changes of one batch
// never share a slot.
type slotReader struct {
	tx        store.ReadTx
	byService map[string]map[slotKey]map[string]uint64
}

type slotKey struct {
	slot   int
	nodeID string
}

func (r *slotReader) slot(g SlotGuard) map[string]uint64 {
	if r.byService == nil {
		r.byService = map[string]map[slotKey]map[string]uint64{}
	}
	slots, ok := r.byService[g.ServiceID]
	if !ok {
		// Slots are keyed as the orchestrator groups them: a global
		// service's by node, a replicated one's by number (by node for
		// a task without a number).
		svc := store.Get[*store.Service](r.tx, g.ServiceID)
		global := svc != nil && (svc.Spec.Mode.Global != nil || svc.Spec.Mode.GlobalJob != nil)
		slots = map[slotKey]map[string]uint64{}
		for _, t := range store.TasksByService(r.tx, g.ServiceID) {
			k := slotKey{slot: t.Slot}
			if global || t.Slot == 0 {
				k = slotKey{nodeID: t.NodeID}
			}
			if slots[k] == nil {
				slots[k] = map[string]uint64{}
			}
			slots[k][t.ID] = t.Version.Index
		}
		r.byService[g.ServiceID] = slots
	}
	if g.Slot > 0 {
		return slots[slotKey{slot: g.Slot}]
	}
	return slots[slotKey{nodeID: g.NodeID}]
}
