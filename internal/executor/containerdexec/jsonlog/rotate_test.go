package jsonlog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		opts    map[string]string
		want    Rotation
		wantErr string
	}{
		{nil, Rotation{MaxFiles: 1}, ""},
		{map[string]string{"max-size": "1k", "max-file": "3"}, Rotation{MaxSize: 1000, MaxFiles: 3}, ""},
		{map[string]string{"max-size": "10m", "max-file": "2", "compress": "true"}, Rotation{MaxSize: 10_000_000, MaxFiles: 2, Compress: true}, ""},
		{map[string]string{"max-file": "5"}, Rotation{MaxFiles: 5}, ""},
		{map[string]string{"tag": "{{.Name}}"}, Rotation{MaxFiles: 1}, ""},
		{map[string]string{"max-size": "0"}, Rotation{}, "max-size must be a positive number"},
		{map[string]string{"max-size": "-1"}, Rotation{}, "max-size: invalid size: '-1'"},
		{map[string]string{"max-size": "lots"}, Rotation{}, "max-size: invalid size: 'lots'"},
		{map[string]string{"max-file": "0"}, Rotation{}, "max-file cannot be less than 1"},
		{map[string]string{"max-file": "three"}, Rotation{}, `max-file must be a whole number, not "three"`},
		{map[string]string{"max-size": "1k", "compress": "yes"}, Rotation{}, `compress must be true or false, not "yes"`},
		{map[string]string{"max-size": "1k", "compress": "true"}, Rotation{}, "compress cannot be true when max-file is less than 2 or max-size is not set"},
		{map[string]string{"max-file": "3", "compress": "true"}, Rotation{}, "compress cannot be true when max-file is less than 2 or max-size is not set"},
		{map[string]string{"max-sise": "1k"}, Rotation{}, "unknown log opt 'max-sise' for json-file log driver"},
		{map[string]string{"labels": "a"}, Rotation{}, "log opt 'labels' is not supported by this node's json-file log driver"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.opts), func(t *testing.T) {
			got, err := ParseOptions(tt.opts)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// writeEntries writes n stdout entries "0\n", "1\n", … through a rotating
// File.
func writeEntries(t *testing.T, path string, rot Rotation, from, n int) {
	t.Helper()
	f, err := OpenFile(path, rot)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		b, err := Encode(nil, Entry{Stream: Stdout, Time: t0.Add(time.Duration(i) * time.Second), Line: fmt.Appendf(nil, "%d\n", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readTexts(t *testing.T, path string, opts ReadOptions) []string {
	t.Helper()
	var got []string
	err := Read(t.Context(), path, opts, nil, func(e Entry) error {
		got = append(got, strings.TrimSuffix(string(e.Line), "\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func texts(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return s
}

func TestFileRotates(t *testing.T) {
	// An entry is about 70 bytes: a 300-byte file holds 5 of them
	// (rotation comes before the entry after the limit is reached), so 40
	// entries rotate 7 times.
	tests := []struct {
		name      string
		rot       Rotation
		wantFiles []string
		wantFrom  int // the oldest entry left
	}{
		{"no limit", Rotation{MaxFiles: 3}, []string{"log"}, 0},
		{"three files", Rotation{MaxSize: 300, MaxFiles: 3}, []string{"log", "log.1", "log.2"}, 25},
		{"three files compressed", Rotation{MaxSize: 300, MaxFiles: 3, Compress: true}, []string{"log", "log.1.gz", "log.2.gz"}, 25},
		{"one file", Rotation{MaxSize: 300, MaxFiles: 1}, []string{"log"}, 35},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "log")
			// Two writers one after the other, as two runs of a
			// container: the second carries on from the first's size.
			writeEntries(t, path, tt.rot, 0, 17)
			writeEntries(t, path, tt.rot, 17, 23)
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			slices.Sort(names)
			if diff := cmp.Diff(tt.wantFiles, names); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(texts(tt.wantFrom, 40), readTexts(t, path, ReadOptions{Tail: -1})); diff != "" {
				t.Errorf("entries read (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(texts(max(tt.wantFrom, 40-7), 40), readTexts(t, path, ReadOptions{Tail: 7})); diff != "" {
				t.Errorf("last 7 entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadFollowsRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	rot := Rotation{MaxSize: 200, MaxFiles: 2}
	writeEntries(t, path, rot, 0, 1)
	done := make(chan struct{})
	var got []string
	result := make(chan error, 1)
	go func() {
		result <- Read(t.Context(), path, ReadOptions{Tail: -1, Follow: true}, done, func(e Entry) error {
			got = append(got, strings.TrimSuffix(string(e.Line), "\n"))
			return nil
		})
	}()
	// Entries written in steps slower than the follower's polls, across
	// several rotations.
	for i := 1; i < 12; i += 2 {
		time.Sleep(2 * pollInterval)
		writeEntries(t, path, rot, i, 2)
	}
	time.Sleep(2 * pollInterval)
	close(done)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(texts(0, 13), got); diff != "" {
		t.Errorf("followed entries (-want +got):\n%s", diff)
	}
}
