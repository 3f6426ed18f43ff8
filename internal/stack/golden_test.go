package stack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// golden is what a case's files become: the stack and the warnings, or the
// error.
type golden struct {
	Unsupported []string          `json:",omitempty"`
	Deprecated  map[string]string `json:",omitempty"`
	Stack       *Stack
}

// TestGolden loads and converts each directory under testdata/convert: its
// compose files (those listed in "files", else every *.yml in name order),
// the .env beside them, the process environment in "env" and the stack name
// in "namespace" (default "stk"); the result is compared with want.json, or
// the error with want.err. go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/convert/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases under testdata/convert: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			opts := LoadOptions{Namespace: "stk", Files: caseFiles(t, dir)}
			if ns, err := os.ReadFile(filepath.Join(dir, "namespace")); err == nil {
				opts.Namespace = strings.TrimSpace(string(ns))
			}
			if env, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
				opts.Env = strings.Fields(string(env))
			}
			var got []byte
			wantFile := filepath.Join(dir, "want.json")
			p, err := Load(t.Context(), opts)
			var s *Stack
			if err == nil {
				s, err = Convert(p)
			}
			if err != nil {
				got, wantFile = []byte(err.Error()+"\n"), filepath.Join(dir, "want.err")
			} else {
				got, err = json.MarshalIndent(golden{Unsupported: p.Unsupported, Deprecated: p.Deprecated, Stack: s}, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
			}
			// Bind sources are absolute: the case's directory is machine-dependent.
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			got = bytes.ReplaceAll(got, []byte(abs), []byte("$CASE"))
			if *update {
				os.Remove(filepath.Join(dir, "want.json"))
				os.Remove(filepath.Join(dir, "want.err"))
				if err := os.WriteFile(wantFile, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (the case gave:\n%s)", err, got)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (-want +got):\n%s", wantFile, cmp.Diff(string(want), string(got)))
			}
		})
	}
}

func caseFiles(t *testing.T, dir string) []string {
	t.Helper()
	if list, err := os.ReadFile(filepath.Join(dir, "files")); err == nil {
		var files []string
		for _, f := range strings.Fields(string(list)) {
			files = append(files, filepath.Join(dir, f))
		}
		return files
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no compose file in %s", dir)
	}
	slices.Sort(files)
	return files
}
