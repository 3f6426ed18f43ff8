package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

// syncBuffer is a client's stream: a buffer safe for the fanout's writes
// and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// attachAsync attaches a client and returns once it is attached, with a
// channel that gives attach's result.
func attachAsync(t *testing.T, s *stdio, opts AttachOptions, closeStdin func(context.Context) error) <-chan error {
	t.Helper()
	attached := make(chan struct{})
	opts.Attached = func() error { close(attached); return nil }
	if closeStdin == nil {
		closeStdin = func(context.Context) error { return nil }
	}
	done := make(chan error, 1)
	go func() { done <- s.attach(t.Context(), opts, closeStdin) }()
	select {
	case <-attached:
	case err := <-done:
		t.Fatalf("attach ended before it was attached: %v", err)
	}
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("attach did not end")
		return nil
	}
}

func readLog(t *testing.T, path string) []jsonlog.Entry {
	t.Helper()
	var out []jsonlog.Entry
	err := jsonlog.Read(t.Context(), path, jsonlog.ReadOptions{Tail: -1}, nil, func(e jsonlog.Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStdioAttachBeforeTheRunGetsAllItsOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	s := newStdio(path, jsonlog.Rotation{}, false, false)
	var out, errOut syncBuffer
	done := attachAsync(t, s, AttachOptions{Stdout: &out, Stderr: &errOut}, nil)

	sio, r, err := s.begin()
	if err != nil {
		t.Fatal(err)
	}
	if sio.Stdin != nil {
		t.Fatal("a container without OpenStdin got a stdin")
	}
	io.WriteString(sio.Stdout, "one\n")
	io.WriteString(sio.Stderr, "two\n")
	io.WriteString(sio.Stdout, "three")
	s.end(r)
	if err := wait(t, done); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if out.String() != "one\nthree" || errOut.String() != "two\n" {
		t.Fatalf("client got %q / %q", out.String(), errOut.String())
	}
	// Each stream in order; between the two, the order they were read in.
	got := map[string]string{}
	for _, e := range readLog(t, path) {
		got[e.Stream] += string(e.Line) + "|"
	}
	if got[jsonlog.Stdout] != "one\n|three|" || got[jsonlog.Stderr] != "two\n|" {
		t.Fatalf("log holds %q", got)
	}
	select {
	case <-s.runEnded():
	default:
		t.Fatal("runEnded is not closed between runs")
	}
}

func TestStdioAttachLastsOneRun(t *testing.T) {
	s := newStdio(filepath.Join(t.TempDir(), "log.json"), jsonlog.Rotation{}, false, false)
	_, r1, _ := s.begin()
	var out syncBuffer
	done := attachAsync(t, s, AttachOptions{Stdout: &out}, nil)
	ended := s.runEnded()
	s.end(r1)
	<-ended
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	sio, r2, _ := s.begin()
	io.WriteString(sio.Stdout, "second run\n")
	s.end(r2)
	if out.String() != "" {
		t.Fatalf("a client attached to the first run got the second's output: %q", out.String())
	}
}

func TestStdioStdinOnce(t *testing.T) {
	s := newStdio(filepath.Join(t.TempDir(), "log.json"), jsonlog.Rotation{}, false, true)
	closed := make(chan struct{})
	// The client's input arrives before the run begins, as with docker run -i.
	done := attachAsync(t, s, AttachOptions{Stdin: strings.NewReader("hello\n"), CloseStdin: true},
		func(context.Context) error { close(closed); return nil })
	sio, r, _ := s.begin()
	read := make(chan string, 1)
	go func() {
		in, _ := io.ReadAll(sio.Stdin)
		read <- string(in)
	}()
	select {
	case in := <-read:
		if in != "hello\n" {
			t.Fatalf("the process read %q", in)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the process's stdin did not end with the client's input")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the shim's end of stdin was not closed at the end of the input")
	}
	s.end(r)
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestStdioStdinStaysOpenWithoutStdinOnce(t *testing.T) {
	s := newStdio(filepath.Join(t.TempDir(), "log.json"), jsonlog.Rotation{}, false, true)
	sio, r, _ := s.begin()
	done := attachAsync(t, s, AttachOptions{Stdin: strings.NewReader("a")}, func(context.Context) error {
		t.Error("stdin closed without StdinOnce")
		return nil
	})
	buf := make([]byte, 1)
	if _, err := io.ReadFull(sio.Stdin, buf); err != nil || buf[0] != 'a' {
		t.Fatalf("read %q %v", buf, err)
	}
	s.end(r)
	wait(t, done)
}

func TestStdioDetachKeys(t *testing.T) {
	s := newStdio(filepath.Join(t.TempDir(), "log.json"), jsonlog.Rotation{}, true, true)
	sio, r, _ := s.begin()
	defer s.end(r)
	read := make(chan string, 1)
	go func() {
		buf := make([]byte, 2)
		io.ReadFull(sio.Stdin, buf)
		read <- string(buf)
	}()
	done := attachAsync(t, s, AttachOptions{Stdin: strings.NewReader("ls\x10\x11more"), DetachKeys: []byte{0x10, 0x11}}, nil)
	if err := wait(t, done); !errors.Is(err, errDetached) {
		t.Fatalf("attach after the detach keys: %v, want detached", err)
	}
	if got := <-read; got != "ls" {
		t.Fatalf("the process read %q, want what came before the keys", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestStdioClientThatGoesAwayIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	s := newStdio(path, jsonlog.Rotation{}, false, false)
	sio, r, _ := s.begin()
	done := attachAsync(t, s, AttachOptions{Stdout: failingWriter{}}, nil)
	if _, err := io.WriteString(sio.Stdout, "x\n"); err != nil {
		t.Fatalf("a client's failure failed the container's write: %v", err)
	}
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	io.WriteString(sio.Stdout, "y\n")
	s.end(r)
	if n := len(readLog(t, path)); n != 2 {
		t.Fatalf("the log has %d entries, want 2", n)
	}
}
