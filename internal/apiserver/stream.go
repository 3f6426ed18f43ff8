package apiserver

import (
	"encoding/binary"
	"io"
	"net/http"
	"sync"
)

// Stream numbers of Docker's multiplexed stream.
const (
	streamStdout = 1
	streamStderr = 2
)

// muxWriter writes Docker's multiplexed stream ("stdcopy"): each write
// is one frame, an 8-byte header (stream, three zero bytes, big-endian
// length) then the payload. Writers made by stream share a lock so that
// frames of stdout and stderr never interleave.
type muxWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func() // after each frame, so followers see lines at once; may be nil
}

func newMuxWriter(w io.Writer) *muxWriter {
	m := &muxWriter{w: w}
	if rw, ok := w.(http.ResponseWriter); ok {
		rc := http.NewResponseController(rw)
		m.flush = func() { rc.Flush() }
	}
	return m
}

func (m *muxWriter) frame(stream byte, p []byte) error {
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := m.w.Write(p); err != nil {
		return err
	}
	if m.flush != nil {
		m.flush()
	}
	return nil
}

// stream returns a writer of one stream's frames.
func (m *muxWriter) stream(n byte) io.Writer { return streamWriter{m, n} }

type streamWriter struct {
	m *muxWriter
	n byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.m.frame(s.n, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawWriter is the stream of a TTY: no framing, stdout and stderr are one.
type rawWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
}

func newRawWriter(w io.Writer) *rawWriter {
	r := &rawWriter{w: w}
	if rw, ok := w.(http.ResponseWriter); ok {
		rc := http.NewResponseController(rw)
		r.flush = func() { rc.Flush() }
	}
	return r
}

func (r *rawWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.w.Write(p)
	if err == nil && r.flush != nil {
		r.flush()
	}
	return n, err
}

// outputStreams returns the writers of stdout and stderr for a TTY (raw)
// or not (multiplexed).
func outputStreams(w io.Writer, tty bool) (stdout, stderr io.Writer) {
	if tty {
		raw := newRawWriter(w)
		return raw, raw
	}
	m := newMuxWriter(w)
	return m.stream(streamStdout), m.stream(streamStderr)
}
