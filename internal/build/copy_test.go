package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCopySources checks Docker's COPY rules: a directory's contents are
// copied, a file goes into a destination directory (a trailing slash, or
// several sources), patterns match, and a symlink in the image does not
// lead the copy out of it.
func TestCopySources(t *testing.T) {
	tests := []struct {
		name string
		srcs []string
		dest string
		want []string
	}{
		{"a file to a file", []string{"a.txt"}, "/b.txt", []string{"b.txt"}},
		{"a file into a directory", []string{"a.txt"}, "/dir/", []string{"dir", "dir/a.txt"}},
		{"a directory's contents", []string{"src"}, "/app", []string{"app", "app/main.go", "app/pkg", "app/pkg/x.go"}},
		{"a pattern, several sources", []string{"*.txt"}, "/out", []string{"out", "out/a.txt", "out/b.txt"}},
		{"through a symlink that points out of the image", []string{"a.txt"}, "/escape/", []string{"escape", "etc", "etc/a.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			writeTree(t, src, map[string]string{"a.txt": "a", "b.txt": "b", "src/main.go": "m", "src/pkg/x.go": "x"})
			if tt.dest == "/escape/" {
				os.Mkdir(filepath.Join(dst, "etc"), 0o755)
				os.Symlink("/etc", filepath.Join(dst, "escape"))
			}
			err := copySources(context.Background(), copySpec{srcRoot: src, srcs: tt.srcs, dstRoot: dst, dest: tt.dest, instruction: "COPY"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, listTree(t, dst)); diff != "" {
				t.Errorf("image after COPY (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCopySourcesSymlinkOut: a pattern that matches a symlink of the
// context pointing out of it copies nothing of the host.
func TestCopySourcesSymlinkOut(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, dst := t.TempDir(), t.TempDir()
	if err := os.Symlink(secret, filepath.Join(src, "lnk")); err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{"l*", "lnk"} {
		copySources(context.Background(), copySpec{srcRoot: src, srcs: []string{pattern}, dstRoot: dst, dest: "/out", instruction: "COPY"})
		if b, err := os.ReadFile(filepath.Join(dst, "out")); err == nil {
			t.Fatalf("COPY %s copied %q from outside the context", pattern, b)
		}
	}
}

func TestCopySourcesMissing(t *testing.T) {
	err := copySources(context.Background(), copySpec{srcRoot: t.TempDir(), srcs: []string{"nope"}, dstRoot: t.TempDir(), dest: "/x", instruction: "COPY"})
	if _, ok := err.(*StepError); !ok {
		t.Fatalf("COPY of a missing file: %v, want a step error", err)
	}
}

func TestParseChown(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\nstaff:x:50:\n",
	})
	for spec, want := range map[string]idPair{"1:2": {1, 2}, "app": {1000, 1000}, "app:staff": {1000, 50}, "7": {7, 7}} {
		got, err := parseChown(root, spec)
		if err != nil || *got != want {
			t.Errorf("parseChown(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"nobody", "app:nogroup"} {
		if _, err := parseChown(root, spec); err == nil {
			t.Errorf("parseChown(%q) accepted an unknown name", spec)
		}
	}
}

// TestSourcesDigest: the cache follows what a COPY reads, not file times.
func TestSourcesDigest(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a": "1", "d/b": "2"})
	digestOf := func() string {
		d, err := sourcesDigest(root, []string{filepath.Join(root, "a"), filepath.Join(root, "d")})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digestOf()
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(root, "d/b"), later, later)
	if digestOf() != first {
		t.Error("touching a file changed the digest")
	}
	os.WriteFile(filepath.Join(root, "d/b"), []byte("3"), 0o644)
	if digestOf() == first {
		t.Error("editing a file kept the digest")
	}
	os.Chmod(filepath.Join(root, "a"), 0o755)
	if d := digestOf(); d == first {
		t.Error("a mode change kept the digest")
	}
}
