// Package jsonlog writes and reads container logs in Docker's json-file
// format: one JSON object per line, {"log":"...\n","stream":"stdout",
// "time":"RFC3339Nano"}, so that the stream and the time of every line
// survive restarts of the daemon and docker logs can show both.
package jsonlog

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Stream names as they appear in the log file.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// maxLine is the longest line kept in one entry; a longer line is split into
// several entries, as Docker does, so that a process writing without
// newlines cannot make the driver buffer without bound.
const maxLine = 16 * 1024

// Entry is one line of a container's output.
type Entry struct {
	Stream string // Stdout or Stderr
	Time   time.Time
	Line   []byte // the bytes written, with the newline when there was one
}

// record is an entry as stored in the file.
type record struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Encode appends e to buf as one line of the file.
func Encode(buf []byte, e Entry) ([]byte, error) {
	b, err := json.Marshal(record{Log: string(e.Line), Stream: e.Stream, Time: e.Time.UTC()})
	if err != nil {
		return buf, fmt.Errorf("encode log entry: %w", err)
	}
	buf = append(buf, b...)
	return append(buf, '\n'), nil
}

// Decode parses one line of the file, without its newline.
func Decode(line []byte) (Entry, error) {
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return Entry{}, fmt.Errorf("decode log entry: %w", err)
	}
	return Entry{Stream: r.Stream, Time: r.Time, Line: []byte(r.Log)}, nil
}

// Writer appends entries to a log. Its Copy may run for several streams at
// once: each entry is one Write call, so entries never interleave.
type Writer struct {
	now func() time.Time

	mu sync.Mutex
	w  io.Writer // guarded by mu
}

// NewWriter returns a Writer that stamps entries with now().
func NewWriter(w io.Writer, now func() time.Time) *Writer {
	return &Writer{w: w, now: now}
}

// Copy writes every line read from r as an entry of stream, until r ends.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	var buf []byte
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			var encErr error
			buf, encErr = Encode(buf[:0], Entry{Stream: stream, Time: w.now(), Line: line})
			if encErr != nil {
				return encErr
			}
			if werr := w.write(buf); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return fmt.Errorf("read %s: %w", stream, err)
		}
	}
}

func (w *Writer) write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}
