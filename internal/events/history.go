package events

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/shoal-project/shoal/internal/atomicfile"
)

// record is an event as the history keeps it: a swarm event carries the
// cluster and raft index it was derived from.
type record struct {
	Message events.Message `json:"e"`
	Cluster string         `json:"c,omitempty"`
	Index   uint64         `json:"i,omitempty"`
}

// line is one line of the history file: a record, or the watermark a
// rewrite puts first.
type line struct {
	record
	Mark *watermark `json:"w,omitempty"`
}

// watermark is the newest raft index whose swarm events are recorded, of
// the cluster this node was last in. Rewrites keep it even when the
// events themselves have been trimmed away.
type watermark struct {
	Cluster string `json:"c"`
	Index   uint64 `json:"i"`
}

// maxLine bounds a line read back from the file; a longer one is skipped.
const maxLine = 1 << 20

// history is the bounded list of past events, oldest first, mirrored to an
// append-only file of JSON lines that is rewritten when it grows to twice
// the bounds.
type history struct {
	maxEvents, maxBytes int
	log                 *slog.Logger

	recs  []record // recs[head:] are kept
	sizes []int    // encoded size of each of recs
	head  int
	bytes int // the encoded size of recs[head:]
	mark  watermark

	path      string
	f         *os.File // nil when in memory only, or after a write failed
	fileBytes int
	fileLines int
}

func openHistory(path string, maxEvents, maxBytes int, log *slog.Logger) (*history, error) {
	h := &history{maxEvents: maxEvents, maxBytes: maxBytes, log: log, path: path}
	if path == "" {
		return h, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := h.load(); err != nil {
		log.Warn("events history unreadable; starting a new one", "path", path, "err", err)
		h.recs, h.sizes, h.head, h.bytes, h.mark = nil, nil, 0, 0, watermark{}
	}
	if err := h.rewrite(); err != nil {
		return nil, err
	}
	return h, nil
}

// load reads the file back, skipping lines it cannot decode.
func (h *history) load() error {
	f, err := os.Open(h.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	bad := 0
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			bad++
			continue
		}
		if l.Mark != nil {
			h.advance(l.Mark.Cluster, l.Mark.Index)
			continue
		}
		h.keep(l.record, len(sc.Bytes())+1)
	}
	if bad > 0 {
		h.log.Warn("events history: skipped lines that do not decode", "path", h.path, "lines", bad)
	}
	return sc.Err()
}

// add records r, in memory and in the file.
func (h *history) add(r record) {
	b, err := json.Marshal(r)
	if err != nil {
		h.log.Error("events history: encode", "err", err)
		return
	}
	b = append(b, '\n')
	h.keep(r, len(b))
	if h.f == nil {
		return
	}
	if _, err := h.f.Write(b); err != nil {
		h.fail(err)
		return
	}
	h.fileBytes += len(b)
	h.fileLines++
	if h.fileLines > 2*h.maxEvents || h.fileBytes > 2*h.maxBytes {
		if err := h.rewrite(); err != nil {
			h.fail(err)
		}
	}
}

// keep appends r to the list and trims the oldest past the bounds.
func (h *history) keep(r record, size int) {
	h.recs = append(h.recs, r)
	h.sizes = append(h.sizes, size)
	h.bytes += size
	if r.Cluster != "" {
		h.advance(r.Cluster, r.Index)
	}
	for n := len(h.recs) - h.head; n > 0 && (n > h.maxEvents || h.bytes > h.maxBytes); n-- {
		h.bytes -= h.sizes[h.head]
		h.recs[h.head] = record{}
		h.head++
	}
	if h.head > len(h.recs)/2 {
		h.recs = append([]record(nil), h.recs[h.head:]...)
		h.sizes = append([]int(nil), h.sizes[h.head:]...)
		h.head = 0
	}
}

// advance moves the watermark to cluster's index idx.
func (h *history) advance(cluster string, idx uint64) {
	if cluster != h.mark.Cluster || idx > h.mark.Index {
		h.mark = watermark{Cluster: cluster, Index: idx}
	}
}

// newer reports whether the swarm events of cluster's raft index idx are
// not recorded yet.
func (h *history) newer(cluster string, idx uint64) bool {
	return cluster != h.mark.Cluster || idx > h.mark.Index
}

// seen records that the events of cluster's index idx are published, also
// when there were none to keep.
func (h *history) seen(cluster string, idx uint64) { h.advance(cluster, idx) }

// between returns the kept events from since to until (either zero for no
// bound) that pass f, oldest first.
func (h *history) between(since, until time.Time, f Filter) []events.Message {
	var out []events.Message
	for _, r := range h.recs[h.head:] {
		t := r.Message.TimeNano
		if !since.IsZero() && t < since.UnixNano() {
			continue
		}
		if !until.IsZero() && t > until.UnixNano() {
			continue
		}
		if f.Include(r.Message) {
			out = append(out, r.Message)
		}
	}
	return out
}

// rewrite replaces the file with the watermark and the kept events, and
// reopens it for appending.
func (h *history) rewrite() error {
	if h.path == "" {
		return nil
	}
	if h.f != nil {
		h.f.Close()
		h.f = nil
	}
	f, err := atomicfile.Create(h.path, 0o600)
	if err != nil {
		return fmt.Errorf("events: rewrite history: %w", err)
	}
	defer f.Cleanup()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	n := 0
	if h.mark.Cluster != "" {
		if err := enc.Encode(map[string]watermark{"w": h.mark}); err != nil {
			return fmt.Errorf("events: rewrite history: %w", err)
		}
		n++
	}
	for _, r := range h.recs[h.head:] {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("events: rewrite history: %w", err)
		}
		n++
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("events: rewrite history: %w", err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("events: rewrite history: %w", err)
	}
	if h.f, err = os.OpenFile(h.path, os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
		return fmt.Errorf("events: reopen history: %w", err)
	}
	st, err := h.f.Stat()
	if err != nil {
		return fmt.Errorf("events: reopen history: %w", err)
	}
	h.fileBytes, h.fileLines = int(st.Size()), n
	return nil
}

// fail stops writing the file after an error: the events still flow and
// stay in memory, and the daemon goes on.
func (h *history) fail(err error) {
	h.log.Error("events history: cannot write; keeping events in memory only", "path", h.path, "err", err)
	if h.f != nil {
		h.f.Close()
		h.f = nil
	}
}

func (h *history) close() error {
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return err
}
