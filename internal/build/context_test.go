package build

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestIgnoreExcluded(t *testing.T) {
	const ignore = "# comment\n*.log\nnode_modules\n/secret\ndocs/**\n!docs/keep.md\nDockerfile\n.dockerignore\n"
	ig, err := ParseIgnore(strings.NewReader(ignore), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"app.log":                 true,
		"sub/app.log":             false, // *.log matches at the root only, as in Docker
		"node_modules":            true,
		"node_modules/x/index.js": true,
		"secret":                  true,
		"src/secret":              false,
		"docs/a.md":               true,
		"docs/keep.md":            false,
		"main.go":                 false,
		"Dockerfile":              false, // never left out: the builder reads it
		".dockerignore":           false,
	} {
		if got := ig.Excluded(path); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestParseIgnoreRefusesBadPatterns(t *testing.T) {
	if _, err := ParseIgnore(strings.NewReader("[\n"), "Dockerfile"); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Fatalf("ParseIgnore of a bad pattern: %v, want Invalid", err)
	}
}

type tarFile struct {
	name, body, link string
	typ              byte
}

func tarOf(t *testing.T, files ...tarFile) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Typeflag: f.typ, Linkname: f.link}
		if f.typ == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if f.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	return &buf
}

func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestExtractContext(t *testing.T) {
	dir := t.TempDir()
	ctx := tarOf(t,
		tarFile{name: "Dockerfile", body: "FROM scratch\n", typ: tar.TypeReg},
		tarFile{name: ".dockerignore", body: "*.log\ncache\n", typ: tar.TypeReg},
		tarFile{name: "app.log", body: "x", typ: tar.TypeReg},
		tarFile{name: "cache/", typ: tar.TypeDir},
		tarFile{name: "cache/a", body: "x", typ: tar.TypeReg},
		tarFile{name: "src/main.go", body: "package main", typ: tar.TypeReg},
		tarFile{name: "../../escape", body: "x", typ: tar.TypeReg},
		tarFile{name: "link", link: "/etc/passwd", typ: tar.TypeSymlink},
	)
	if err := ExtractContext(ctx, dir, "Dockerfile", 1<<20); err != nil {
		t.Fatal(err)
	}
	want := []string{".dockerignore", "Dockerfile", "escape", "link", "src", "src/main.go"}
	if diff := cmp.Diff(want, listTree(t, dir)); diff != "" {
		t.Errorf("context after extract (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(dir)), "escape")); err == nil {
		t.Error("a ../ entry was written outside the context")
	}
}

func TestExtractContextLimit(t *testing.T) {
	ctx := tarOf(t,
		tarFile{name: "Dockerfile", body: "FROM scratch\n", typ: tar.TypeReg},
		tarFile{name: "big", body: strings.Repeat("x", 2048), typ: tar.TypeReg},
	)
	err := ExtractContext(ctx, t.TempDir(), "Dockerfile", 1024)
	if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), "limits.MaxBuildContext") {
		t.Fatalf("a context past the limit: %v, want Invalid naming the limit", err)
	}
}

func TestExtractContextNotATar(t *testing.T) {
	err := ExtractContext(strings.NewReader(strings.Repeat("not a tar ", 100)), t.TempDir(), "Dockerfile", 1<<20)
	if !errdefs.Is(err, errdefs.KindInvalid) {
		t.Fatalf("a body that is no tar: %v, want Invalid", err)
	}
}
