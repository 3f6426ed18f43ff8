package jsonlog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead reads any log file, as a crash or a full disk may leave one,
// with any tail and time range. Read must not panic nor fail on what the
// file holds (bad lines are skipped), must deliver at most tail entries,
// in the order of the file, each within the range, and each the decoding
// of a whole line of the file.
func FuzzRead(f *testing.F) {
	var good []byte
	for i, s := range []string{"one\n", "two", "", "\x00\xff\n"} {
		good, _ = Encode(good, Entry{Stream: Stdout, Time: t0.Add(time.Duration(i) * time.Second), Line: []byte(s)})
	}
	f.Add(good, -1, int64(0), int64(0))
	f.Add(good, 2, t0.Add(time.Second).UnixNano(), t0.Add(3*time.Second).UnixNano())
	f.Add(append(good[:len(good)-7], good...), 0, int64(0), int64(0))
	f.Add([]byte(`{"log":"x","stream":"stdout","time":"not a time"}`+"\n"+`{"log":1}`+"\n\n{"), 5, int64(0), int64(0))
	f.Add([]byte(`{"log":"\ud800","stream":"stderr","time":"9999-12-31T23:59:59.999999999Z"}`+"\n"), 1, int64(-1), int64(1))
	f.Fuzz(func(t *testing.T, file []byte, tail int, since, until int64) {
		path := filepath.Join(t.TempDir(), "log.json")
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := ReadOptions{Tail: tail}
		if since != 0 {
			opts.Since = time.Unix(0, since)
		}
		if until != 0 {
			opts.Until = time.Unix(0, until)
		}
		var got []Entry
		err := Read(t.Context(), path, opts, nil, func(e Entry) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if tail >= 0 && len(got) > tail {
			t.Fatalf("tail %d: got %d entries", tail, len(got))
		}
		lines := bytes.Split(file, []byte("\n"))
		next := 0
		for _, e := range got {
			if !opts.Since.IsZero() && e.Time.Before(opts.Since) || !opts.Until.IsZero() && !e.Time.Before(opts.Until) {
				t.Fatalf("entry at %v is outside [%v, %v)", e.Time, opts.Since, opts.Until)
			}
			for next < len(lines) && !sameEntry(lines[next], e) {
				next++
			}
			if next == len(lines) {
				t.Fatalf("entry %+v is not a line of the file, in order", e)
			}
			next++
		}
	})
}

func sameEntry(line []byte, e Entry) bool {
	d, err := Decode(line)
	return err == nil && d.Stream == e.Stream && d.Time.Equal(e.Time) && bytes.Equal(d.Line, e.Line)
}
