package store

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-memdb"
)

// ReadTx reads a consistent snapshot.
type ReadTx struct {
	txn *memdb.Txn
}

// Get returns the object of type T with the exact ID, or nil.
func Get[T Object](tx ReadTx, id string) T {
	var zero T
	o, err := tx.txn.First(zero.table(), indexID, id)
	if err != nil || o == nil {
		return zero
	}
	return o.(T)
}

// All returns every object of type T, ordered by ID.
func All[T Object](tx ReadTx) []T {
	var zero T
	return find[T](tx, zero.table(), indexID)
}

// ByIDPrefix returns the objects of type T whose ID starts with prefix.
func ByIDPrefix[T Object](tx ReadTx, prefix string) []T {
	var zero T
	return find[T](tx, zero.table(), indexID+"_prefix", prefix)
}

// ByName returns the services with that spec name, or the nodes with that
// hostname.
func ByName[T interface {
	*Service | *Node
	object
}](tx ReadTx, name string) []T {
	var zero T
	return find[T](tx, zero.table(), indexName, name)
}

// TasksByService returns the tasks of a service.
func TasksByService(tx ReadTx, serviceID string) []*Task {
	return find[*Task](tx, tableTask, indexService, serviceID)
}

// TasksByNode returns the tasks assigned to a node.
func TasksByNode(tx ReadTx, nodeID string) []*Task {
	return find[*Task](tx, tableTask, indexNode, nodeID)
}

// TheCluster returns the cluster object, or nil before swarm init.
func TheCluster(tx ReadTx) *Cluster {
	all := All[*Cluster](tx)
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

func find[T any](tx ReadTx, table, index string, args ...any) []T {
	it, err := tx.txn.Get(table, index, args...)
	if err != nil {
		panic(fmt.Sprintf("store: %s.%s: %v", table, index, err)) // indexes are static
	}
	var out []T
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, o.(T))
	}
	return out
}

// WriteTx is a ReadTx that also records changes. Reads see the
// transaction's own writes.
type WriteTx struct {
	ReadTx
	actions []Action
}

// Put creates or replaces an object. The object must not be modified
// after it is put.
func (tx *WriteTx) Put(o object) error {
	return tx.record(OpPut, o)
}

// Delete removes an object.
func (tx *WriteTx) Delete(o object) error {
	return tx.record(OpDelete, o)
}

func (tx *WriteTx) record(op Op, o object) error {
	data, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("store: encode %s %s: %w", o.table(), o.objectID(), err)
	}
	switch op {
	case OpPut:
		err = tx.txn.Insert(o.table(), o)
	case OpDelete:
		var old any
		if old, err = tx.txn.First(o.table(), indexID, o.objectID()); err == nil && old != nil {
			err = tx.txn.Delete(o.table(), old)
		}
	}
	if err != nil {
		return fmt.Errorf("store: %s %s %s: %w", op, o.table(), o.objectID(), err)
	}
	tx.actions = append(tx.actions, Action{Op: op, Table: o.table(), Object: data})
	return nil
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
