package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
)

// ReadTx reads a consistent snapshot.
type ReadTx struct {
	txn *memdb.Txn
	own *overlay // inside Update: the writes made so far, read over txn
}

// Get returns the object of type T with the exact ID, or nil.
func Get[T Object](tx ReadTx, id string) T {
	var zero T
	if o, ok := tx.own.get(zero.table(), id); ok {
		if o == nil {
			return zero
		}
		return o.(T)
	}
	o, err := tx.txn.First(zero.table(), indexID, id)
	if err != nil || o == nil {
		return zero
	}
	return o.(T)
}

// All returns every object of type T, ordered by ID.
func All[T Object](tx ReadTx) []T {
	var zero T
	return find[T](tx, zero.table(), indexID, true, "")
}

// ByIDPrefix returns the objects of type T whose ID starts with prefix.
func ByIDPrefix[T Object](tx ReadTx, prefix string) []T {
	var zero T
	return find[T](tx, zero.table(), indexID, true, prefix)
}

// ByName returns the services with that spec name, or the nodes with that
// hostname.
func ByName[T interface {
	*Service | *Node | *Secret | *Config | *Network
	object
}](tx ReadTx, name string) []T {
	var zero T
	return find[T](tx, zero.table(), indexName, false, name)
}

// TasksByService returns the tasks of a service.
func TasksByService(tx ReadTx, serviceID string) []*Task {
	return find[*Task](tx, tableTask, indexService, false, serviceID)
}

// TasksByNode returns the tasks assigned to a node.
func TasksByNode(tx ReadTx, nodeID string) []*Task {
	return find[*Task](tx, tableTask, indexNode, false, nodeID)
}

// TheCluster returns the cluster object, or nil before swarm init.
func TheCluster(tx ReadTx) *Cluster {
	all := All[*Cluster](tx)
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

// find returns the objects of table whose index value is arg, or starts
// with arg when prefix is set; All passes the ID index with an empty
// prefix. Results are in index order, as memdb returns them: by index
// value, then ID.
func find[T any](tx ReadTx, table, index string, prefix bool, arg string) []T {
	var it memdb.ResultIterator
	var err error
	switch {
	case index == indexID && prefix && arg == "":
		it, err = tx.txn.Get(table, indexID)
	case prefix:
		it, err = tx.txn.Get(table, index+"_prefix", arg)
	default:
		it, err = tx.txn.Get(table, index, arg)
	}
	if err != nil {
		panic(fmt.Sprintf("store: %s.%s: %v", table, index, err)) // indexes are static
	}
	own := tx.own.table(table)
	var out []T
	for o := it.Next(); o != nil; o = it.Next() {
		if own != nil {
			if _, written := own.byID[o.(object).objectID()]; written {
				continue // the overlay's version, if any, is added below
			}
		}
		out = append(out, o.(T))
	}
	if own == nil {
		return out
	}
	key := indexFuncs[table][index]
	added := false
	for _, o := range own.byID {
		if o == nil {
			continue
		}
		if v := key(o); v != "" && (v == arg || prefix && strings.HasPrefix(v, arg)) {
			out = append(out, o.(T))
			added = true
		}
	}
	if added {
		slices.SortFunc(out, func(a, b T) int {
			oa, ob := any(a).(object), any(b).(object)
			return cmp.Or(cmp.Compare(key(oa), key(ob)), cmp.Compare(oa.objectID(), ob.objectID()))
		})
	}
	return out
}

// overlay holds an Update's writes until they are applied, so that fn
// reads them without inserting into memdb twice (once here, once on
// apply).
type overlay struct {
	tables map[string]*ownTable
}

type ownTable struct {
	byID map[string]object // nil for a deleted object
}

func (ov *overlay) table(name string) *ownTable {
	if ov == nil {
		return nil
	}
	return ov.tables[name]
}

// get returns the overlay's object (nil when deleted), and whether fn
// wrote it at all.
func (ov *overlay) get(table, id string) (object, bool) {
	t := ov.table(table)
	if t == nil {
		return nil, false
	}
	o, ok := t.byID[id]
	return o, ok
}

func (ov *overlay) set(table, id string, o object) {
	if ov.tables == nil {
		ov.tables = map[string]*ownTable{}
	}
	t := ov.tables[table]
	if t == nil {
		t = &ownTable{byID: map[string]object{}}
		ov.tables[table] = t
	}
	t.byID[id] = o
}

// WriteTx is a ReadTx that also records changes. Reads see the
// transaction's own writes.
type WriteTx struct {
	ReadTx
	actions []Action
	objects []object // the object of each action
	size    int      // the bytes of the actions' JSON
}

// Size returns the bytes written so far, as encoded: what the batch will
// cost raft, before compression.
func (tx *WriteTx) Size() int { return tx.size }

// Put creates or replaces an object. The object must not be modified
// after it is put: the store may keep it as it is.
func (tx *WriteTx) Put(o object) error {
	data, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("store: encode %s %s: %w", o.table(), o.objectID(), err)
	}
	tx.record(OpPut, o, data, o)
	return nil
}

// Delete removes an object.
func (tx *WriteTx) Delete(o object) error {
	// Applying a delete needs only the ID.
	data, err := json.Marshal(struct{ ID string }{o.objectID()})
	if err != nil {
		return fmt.Errorf("store: encode %s %s: %w", o.table(), o.objectID(), err)
	}
	tx.record(OpDelete, o, data, nil)
	return nil
}

func (tx *WriteTx) record(op Op, o object, data []byte, after object) {
	tx.own.set(o.table(), o.objectID(), after)
	tx.actions = append(tx.actions, Action{Op: op, Table: o.table(), Object: data})
	tx.size += len(data)
	tx.objects = append(tx.objects, o)
}

// Clone returns a deep copy of o, for changing nested fields. A struct
// copy is enough to change top-level fields.
func Clone[T Object](o T) T {
	data, err := json.Marshal(o)
	if err != nil {
		panic(err) // stored objects always encode
	}
	c := newObject(o.table()).(T)
	if err := json.Unmarshal(data, c); err != nil {
		panic(err)
	}
	return c
}
