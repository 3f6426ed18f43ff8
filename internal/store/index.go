package store

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
)

// funcIndex indexes objects by a string a function derives from them, so
// that nested fields (Spec.Name, ServiceID) can be indexed without
// reflection on paths. An empty string means "not indexed".
type funcIndex struct {
	fn func(any) string
}

var (
	_ memdb.SingleIndexer = funcIndex{}
	_ memdb.PrefixIndexer = funcIndex{}
)

func (f funcIndex) FromObject(obj any) (bool, []byte, error) {
	v := f.fn(obj)
	if v == "" {
		return false, nil, nil
	}
	return true, []byte(v + "\x00"), nil
}

func (f funcIndex) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s + "\x00"), nil
}

func (f funcIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	return []byte(s), err
}

func oneString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("index takes one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("index argument must be a string, got %T", args[0])
	}
	return s, nil
}

const (
	indexID      = "id"
	indexName    = "name"
	indexService = "service"
	indexNode    = "node"
)

func idIndex() *memdb.IndexSchema {
	return &memdb.IndexSchema{
		Name:    indexID,
		Unique:  true,
		Indexer: funcIndex{func(o any) string { return o.(object).objectID() }},
	}
}

func schema() *memdb.DBSchema {
	byFunc := func(name string, fn func(any) string) *memdb.IndexSchema {
		return &memdb.IndexSchema{Name: name, AllowMissing: true, Indexer: funcIndex{fn}}
	}
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableCluster: {Name: tableCluster, Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()}},
		tableNode: {Name: tableNode, Indexes: map[string]*memdb.IndexSchema{
			indexID:   idIndex(),
			indexName: byFunc(indexName, func(o any) string { return o.(*Node).Description.Hostname }),
		}},
		tableService: {Name: tableService, Indexes: map[string]*memdb.IndexSchema{
			indexID:   idIndex(),
			indexName: byFunc(indexName, func(o any) string { return o.(*Service).Spec.Name }),
		}},
		tableTask: {Name: tableTask, Indexes: map[string]*memdb.IndexSchema{
			indexID:      idIndex(),
			indexService: byFunc(indexService, func(o any) string { return o.(*Task).ServiceID }),
			indexNode:    byFunc(indexNode, func(o any) string { return o.(*Task).NodeID }),
		}},
	}}
}
