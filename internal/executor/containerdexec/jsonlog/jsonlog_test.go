package jsonlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock returns a now func that advances one second per call from t0.
func clock() func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n-1) * time.Second)
	}
}

// line is an entry without its time, for comparisons.
type line struct {
	Stream string
	Text   string
}

func decodeAll(t *testing.T, b []byte) []Entry {
	t.Helper()
	var out []Entry
	for l := range bytes.Lines(b) {
		e, err := Decode(bytes.TrimSuffix(l, []byte("\n")))
		if err != nil {
			t.Fatalf("decode %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

func lines(es []Entry) []line {
	var out []line
	for _, e := range es {
		out = append(out, line{e.Stream, string(e.Line)})
	}
	return out
}

func TestEncodeDecode(t *testing.T) {
	e := Entry{Stream: Stderr, Time: t0.Add(123 * time.Nanosecond), Line: []byte("a \"quoted\"\tline\n")}
	b, err := Encode(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"log":"a \"quoted\"\tline\n","stream":"stderr","time":"2025-03-01T12:00:00.000000123Z"}` + "\n"
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	got, err := Decode(bytes.TrimSuffix(b, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestWriterCopy(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name  string
		input string
		want  []line
	}{
		{"empty", "", nil},
		{"lines", "one\ntwo\n", []line{{Stdout, "one\n"}, {Stdout, "two\n"}}},
		{"no final newline", "one\ntw", []line{{Stdout, "one\n"}, {Stdout, "tw"}}},
		{"long line is split", long + "\n", []line{{Stdout, long[:maxLine]}, {Stdout, long[maxLine:] + "\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, clock())
			if err := w.Copy(Stdout, strings.NewReader(tt.input)); err != nil {
				t.Fatal(err)
			}
			got := decodeAll(t, buf.Bytes())
			if diff := cmp.Diff(tt.want, lines(got)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			for i, e := range got {
				if want := t0.Add(time.Duration(i) * time.Second); !e.Time.Equal(want) {
					t.Errorf("entry %d: got time %v, want %v", i, e.Time, want)
				}
			}
		})
	}
}

// writeLog writes entries stamped t0, t0+1s, ... alternating stdout and
// stderr, with texts "0\n", "1\n", ...
func writeLog(t *testing.T, path string, n int) {
	t.Helper()
	var b []byte
	for i := range n {
		stream := Stdout
		if i%2 == 1 {
			stream = Stderr
		}
		var err error
		b, err = Encode(b, Entry{Stream: stream, Time: t0.Add(time.Duration(i) * time.Second), Line: []byte(string(rune('0'+i)) + "\n")})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	writeLog(t, path, 5)
	tests := []struct {
		name string
		opts ReadOptions
		want []line
	}{
		{"all", ReadOptions{Tail: -1}, []line{{Stdout, "0\n"}, {Stderr, "1\n"}, {Stdout, "2\n"}, {Stderr, "3\n"}, {Stdout, "4\n"}}},
		{"tail 2", ReadOptions{Tail: 2}, []line{{Stderr, "3\n"}, {Stdout, "4\n"}}},
		{"tail 0", ReadOptions{Tail: 0}, nil},
		{"tail more than there is", ReadOptions{Tail: 9}, []line{{Stdout, "0\n"}, {Stderr, "1\n"}, {Stdout, "2\n"}, {Stderr, "3\n"}, {Stdout, "4\n"}}},
		{"since", ReadOptions{Tail: -1, Since: t0.Add(3 * time.Second)}, []line{{Stderr, "3\n"}, {Stdout, "4\n"}}},
		{"tail then since", ReadOptions{Tail: 3, Since: t0.Add(3 * time.Second)}, []line{{Stderr, "3\n"}, {Stdout, "4\n"}}},
		{"until", ReadOptions{Tail: -1, Until: t0.Add(2 * time.Second)}, []line{{Stdout, "0\n"}, {Stderr, "1\n"}}},
		{"since and until", ReadOptions{Tail: -1, Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)}, []line{{Stderr, "1\n"}, {Stdout, "2\n"}}},
		{"until ends following", ReadOptions{Tail: -1, Until: t0.Add(time.Second), Follow: true}, []line{{Stdout, "0\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Entry
			err := Read(t.Context(), path, tt.opts, nil, func(e Entry) error {
				got = append(got, e)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, lines(got)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadMissingLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.json")
	err := Read(t.Context(), path, ReadOptions{Tail: -1}, nil, func(e Entry) error {
		t.Errorf("got entry %+v from a missing log", e)
		return nil
	})
	if err != nil {
		t.Errorf("got error %v, want nil", err)
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	writeLog(t, path, 3)
	stop := errors.New("stop")
	n := 0
	err := Read(t.Context(), path, ReadOptions{Tail: -1}, nil, func(Entry) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("got error %v after %d entries, want %v after 1", err, n, stop)
	}
}

func TestReadFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	done := make(chan struct{})
	got := make(chan Entry, 10)
	result := make(chan error, 1)
	go func() {
		result <- Read(t.Context(), path, ReadOptions{Tail: -1, Follow: true}, done, func(e Entry) error {
			got <- e
			return nil
		})
	}()

	// The log appears only after the follower started, and one entry
	// arrives in two writes.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first, _ := Encode(nil, Entry{Stream: Stdout, Time: t0, Line: []byte("first\n")})
	f.Write(first)
	if e := <-got; string(e.Line) != "first\n" {
		t.Fatalf("got %q, want first", e.Line)
	}
	second, _ := Encode(nil, Entry{Stream: Stderr, Time: t0, Line: []byte("second\n")})
	f.Write(second[:10])
	f.Write(second[10:])
	third, _ := Encode(nil, Entry{Stream: Stdout, Time: t0, Line: []byte("third\n")})
	f.Write(third)
	close(done)

	if err := <-result; err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	close(got)
	var rest []Entry
	for e := range got {
		rest = append(rest, e)
	}
	if diff := cmp.Diff([]line{{Stderr, "second\n"}, {Stdout, "third\n"}}, lines(rest)); diff != "" {
		t.Errorf("followed entries (-want +got):\n%s", diff)
	}
}

func TestReadFollowEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	writeLog(t, path, 1)
	ctx, cancel := context.WithCancel(t.Context())
	err := Read(ctx, path, ReadOptions{Tail: -1, Follow: true}, nil, func(Entry) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want %v", err, context.Canceled)
	}
}

type closeRecorder struct{ closed bool }

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestDrive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	ready := &closeRecorder{}
	result := make(chan error, 1)
	go func() { result <- Drive(path, Rotation{}, outR, errR, ready) }()

	outW.Write([]byte("to stdout\n"))
	errW.Write([]byte("to stderr\n"))
	outW.Close()
	errW.Close()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if !ready.closed {
		t.Error("ready was not closed")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []line
	for _, e := range decodeAll(t, b) {
		got = append(got, line{e.Stream, string(e.Line)})
	}
	// The two streams are copied concurrently: compare without order.
	want := map[line]bool{{Stdout, "to stdout\n"}: true, {Stderr, "to stderr\n"}: true}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, l := range got {
		if !want[l] {
			t.Errorf("got unexpected entry %v", l)
		}
	}
}
