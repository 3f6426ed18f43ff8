package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
)

// Batch is the unit of replication: the changes of one Update.
type Batch struct {
	Time    time.Time // the leader's clock, so every replica stamps the same times
	Actions []Action
	// Base is the store index the writer read when it decided the batch;
	// the batch applies only over that state (ApplyBatch). 0: unchecked.
	Base uint64
}

// Op is what an action does to an object.
type Op string

const (
	OpPut    Op = "put"
	OpDelete Op = "delete"
	// OpReset is only an event: the whole store was replaced by a snapshot.
	OpReset Op = "reset"
)

// Action is one object written or deleted. Object is the object's JSON;
// for a delete only its ID is needed.
type Action struct {
	Op     Op
	Table  string
	Object json.RawMessage
}

// A batch is framed in binary around each object's JSON: the framing is
// what the leader would otherwise spend re-validating every object that
// json.Marshal of a RawMessage checks and compacts. The first byte, zero,
// can never start a JSON document, so batches written as JSON by earlier
// versions still decode from old logs.
//
//	[0x00 | 0x10 | uvarint base]  when the batch has a Base
//	0x00 | version | body, S2-compressed when version is 2
//	body: unix nanos (8 bytes, big endian) | uvarint count |
//	      count × (op byte | table byte | uvarint length | object JSON)
//
// Large bodies are compressed: tasks of one service repeat the same spec,
// so a batch shrinks several times for a fraction of the time the raft log
// would spend writing it whole.
const (
	batchMagic      = 0x00
	batchPlain      = 0x01
	batchCompressed = 0x02
	// batchBased prefixes a batch with its Base.
	batchBased = 0x10
	// compressFrom is the body size from which compressing pays.
	compressFrom = 16 << 10
)

var (
	opCodes    = map[Op]byte{OpPut: 1, OpDelete: 2}
	opNames    = map[byte]Op{1: OpPut, 2: OpDelete}
	tableCodes = map[string]byte{tableCluster: 1, tableNode: 2, tableService: 3, tableTask: 4, tableSecret: 5, tableConfig: 6, tableNetwork: 7}
	tableNames = map[byte]string{1: tableCluster, 2: tableNode, 3: tableService, 4: tableTask, 5: tableSecret, 6: tableConfig, 7: tableNetwork}
)

// encodeBatch frames b; its objects are already JSON.
func encodeBatch(b Batch) ([]byte, error) {
	var head []byte
	if b.Base != 0 {
		head = binary.AppendUvarint([]byte{batchMagic, batchBased}, b.Base)
	}
	size := len(head) + 2 + 8 + binary.MaxVarintLen64
	for _, a := range b.Actions {
		size += 2 + binary.MaxVarintLen64 + len(a.Object)
	}
	out := append(make([]byte, 0, size), head...)
	start := len(out)
	out = append(out, batchMagic, batchPlain)
	out = binary.BigEndian.AppendUint64(out, uint64(b.Time.UnixNano()))
	out = binary.AppendUvarint(out, uint64(len(b.Actions)))
	for _, a := range b.Actions {
		op, ok := opCodes[a.Op]
		if !ok {
			return nil, fmt.Errorf("store: encode batch: unknown op %q", a.Op)
		}
		table, ok := tableCodes[a.Table]
		if !ok {
			return nil, fmt.Errorf("store: encode batch: unknown table %q", a.Table)
		}
		out = append(out, op, table)
		out = binary.AppendUvarint(out, uint64(len(a.Object)))
		out = append(out, a.Object...)
	}
	if body := out[start+2:]; len(body) >= compressFrom {
		z := make([]byte, start+2+s2.MaxEncodedLen(len(body)))
		copy(z, head)
		z[start], z[start+1] = batchMagic, batchCompressed
		n := len(s2.Encode(z[start+2:], body))
		// A right-sized copy: raft holds the entry until it is applied.
		return slices.Clip(bytes.Clone(z[:start+2+n])), nil
	}
	return out, nil
}

var errShortBatch = errors.New("truncated batch")

// decodeBatch reads a batch written by encodeBatch, or the JSON of an
// earlier version. Objects are slices of data, not copies.
func decodeBatch(data []byte) (Batch, error) {
	if len(data) > 0 && data[0] != batchMagic {
		var b Batch
		err := json.Unmarshal(data, &b)
		return b, err
	}
	if len(data) < 2 {
		return Batch{}, errShortBatch
	}
	if data[1] == batchBased {
		base, n := binary.Uvarint(data[2:])
		if n <= 0 || base == 0 || len(data) < 2+n+2 || data[2+n+1] == batchBased {
			return Batch{}, errShortBatch
		}
		b, err := decodeBatch(data[2+n:])
		b.Base = base
		return b, err
	}
	body := data[2:]
	switch data[1] {
	case batchPlain:
	case batchCompressed:
		var err error
		if body, err = s2.Decode(nil, body); err != nil {
			return Batch{}, fmt.Errorf("decompress: %w", err)
		}
	default:
		return Batch{}, fmt.Errorf("unknown batch version %d", data[1])
	}
	if len(body) < 8 {
		return Batch{}, errShortBatch
	}
	b := Batch{Time: time.Unix(0, int64(binary.BigEndian.Uint64(body[:8]))).UTC()}
	rest := body[8:]
	count, n := binary.Uvarint(rest)
	if n <= 0 {
		return Batch{}, errShortBatch
	}
	rest = rest[n:]
	if count > uint64(len(rest))/3 { // each action takes at least three bytes
		return Batch{}, errShortBatch
	}
	b.Actions = make([]Action, 0, count)
	for range count {
		if len(rest) < 3 {
			return Batch{}, errShortBatch
		}
		op, ok := opNames[rest[0]]
		if !ok {
			return Batch{}, fmt.Errorf("unknown op code %d", rest[0])
		}
		table, ok := tableNames[rest[1]]
		if !ok {
			return Batch{}, fmt.Errorf("unknown table code %d", rest[1])
		}
		size, n := binary.Uvarint(rest[2:])
		if n <= 0 || size > uint64(len(rest)-2-n) {
			return Batch{}, errShortBatch
		}
		start := 2 + n
		b.Actions = append(b.Actions, Action{Op: op, Table: table, Object: rest[start : start+int(size) : start+int(size)]})
		rest = rest[start+int(size):]
	}
	if len(rest) != 0 {
		return Batch{}, fmt.Errorf("%d bytes after the last action", len(rest))
	}
	return b, nil
}
