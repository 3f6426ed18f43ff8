package events

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/store"
)

// WatchStore publishes the swarm events of the changes applied to st until
// ctx ends. It runs on every manager: each derives the same events, with
// the same times (the batch's, stamped by the leader), from the same raft
// log, so docker events shows the same swarm events whichever manager it
// asks. Raft entries applied again after a restart publish nothing twice
// (the history keeps the newest raft index it recorded).
func (b *Bus) WatchStore(ctx context.Context, st *store.Store) {
	sub := st.Subscribe()
	defer sub.Close()
	w := &storeWatch{bus: b, now: b.cfg.Now}
	st.View(w.fill)
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			return
		}
		w.apply(evs, st)
	}
}

// storeWatch follows the store's objects that have events, to know the
// old object of each change.
type storeWatch struct {
	bus     *Bus
	now     func() time.Time
	cluster string         // the swarm's ID, empty until the store holds it
	objs    map[string]any // by objectKey
}

// fill sets the objects from a snapshot, publishing nothing.
func (w *storeWatch) fill(tx store.ReadTx) {
	w.objs = map[string]any{}
	if c := store.TheCluster(tx); c != nil {
		w.cluster = c.ID
	}
	for _, o := range objectsOf(tx) {
		k, _ := objectKey(o)
		w.objs[k] = o
	}
}

func objectsOf(tx store.ReadTx) []any {
	var out []any
	for _, s := range store.All[*store.Service](tx) {
		out = append(out, s)
	}
	for _, n := range store.All[*store.Node](tx) {
		out = append(out, n)
	}
	for _, n := range store.All[*store.Network](tx) {
		out = append(out, n)
	}
	for _, s := range store.All[*store.Secret](tx) {
		out = append(out, s)
	}
	for _, c := range store.All[*store.Config](tx) {
		out = append(out, c)
	}
	return out
}

// apply turns store events into swarm events, one publication per raft
// index. Events the objects already reflect (queued before fill read the
// snapshot) are skipped.
func (w *storeWatch) apply(evs []store.Event, st *store.Store) {
	var (
		idx  uint64
		msgs []events.Message
	)
	flush := func() {
		if idx != 0 && w.cluster != "" {
			w.bus.publishSwarm(w.cluster, idx, msgs)
		}
		msgs = nil
	}
	for _, ev := range evs {
		if ev.Index != idx {
			flush()
			idx = ev.Index
		}
		if ev.Op == store.OpReset {
			msgs = append(msgs, w.reset(st)...)
			continue
		}
		if c, ok := ev.Object.(*store.Cluster); ok {
			w.cluster = c.ID
			continue
		}
		k, ok := objectKey(ev.Object)
		if !ok {
			continue
		}
		old, had := w.objs[k]
		var cur any
		switch ev.Op {
		case store.OpPut:
			if had && meta(old).Version.Index >= ev.Index {
				continue
			}
			cur = ev.Object
			w.objs[k] = cur
		case store.OpDelete:
			if !had {
				continue
			}
			delete(w.objs, k)
		}
		if m, ok := SwarmEvent(old, cur, ev.Time); ok {
			msgs = append(msgs, m)
		}
	}
	flush()
}

// reset follows a snapshot installed over the store (a manager that fell
// too far behind): the differences between the objects it knew and the
// snapshot's are its events. Creates and updates take the objects' own
// times; removals, whose time no snapshot keeps, this node's clock. A
// first snapshot (the store was empty: a manager that just joined) only
// sets the objects, as the swarm's past is not this manager's to tell.
func (w *storeWatch) reset(st *store.Store) []events.Message {
	before, known := w.objs, w.cluster != ""
	st.View(w.fill)
	if !known {
		return nil
	}
	var msgs []events.Message
	for k, cur := range w.objs {
		old, had := before[k]
		m := meta(cur)
		switch {
		case !had:
			if msg, ok := SwarmEvent(nil, cur, m.CreatedAt); ok {
				msgs = append(msgs, msg)
			}
		case meta(old).Version.Index != m.Version.Index:
			if msg, ok := SwarmEvent(old, cur, m.UpdatedAt); ok {
				msgs = append(msgs, msg)
			}
		}
	}
	now := w.now()
	for k, old := range before {
		if _, ok := w.objs[k]; !ok {
			if msg, ok := SwarmEvent(old, nil, now); ok {
				msgs = append(msgs, msg)
			}
		}
	}
	// Map order is random; every manager should tell the same story.
	slices.SortFunc(msgs, func(a, b events.Message) int {
		return cmp.Or(cmp.Compare(a.TimeNano, b.TimeNano), cmp.Compare(a.Actor.ID, b.Actor.ID))
	})
	return msgs
}
