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

// indexFuncs derives each index's value from an object, for memdb and for
// reading an Update's own writes the way memdb would find them.
var indexFuncs = map[string]map[string]func(object) string{
	tableCluster: {indexID: object.objectID},
	tableNode: {
		indexID:   object.objectID,
		indexName: func(o object) string { return o.(*Node).Description.Hostname },
	},
	tableService: {
		indexID:   object.objectID,
		indexName: func(o object) string { return o.(*Service).Spec.Name },
	},
	tableSecret: {
		indexID:   object.objectID,
		indexName: func(o object) string { return o.(*Secret).Spec.Name },
	},
	tableConfig: {
		indexID:   object.objectID,
		indexName: func(o object) string { return o.(*Config).Spec.Name },
	},
	tableNetwork: {
		indexID:   object.objectID,
		indexName: func(o object) string { return o.(*Network).Spec.Name },
	},
	tableTask: {
		indexID:      object.objectID,
		indexService: func(o object) string { return o.(*Task).ServiceID },
		indexNode:    func(o object) string { return o.(*Task).NodeID },
	},
}

func schema() *memdb.DBSchema {
	tables := map[string]*memdb.TableSchema{}
	for table, indexes := range indexFuncs {
		ts := &memdb.TableSchema{Name: table, Indexes: map[string]*memdb.IndexSchema{}}
		for name, fn := range indexes {
			ts.Indexes[name] = &memdb.IndexSchema{
				Name:         name,
				Unique:       name == indexID,
				AllowMissing: name != indexID,
				Indexer:      funcIndex{func(o any) string { return fn(o.(object)) }},
			}
		}
		tables[table] = ts
	}
	return &memdb.DBSchema{Tables: tables}
}
