package build

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/testutil/treesnap"
)

// FuzzExtractContext feeds ExtractContext any build context a client could
// send to POST /build, into a directory beside one it must never touch:
// entries climbing out with ../ or absolute names, symlinks out of the
// context followed by entries below them, hard links, a .dockerignore.
// Nothing outside the context changes, nothing panics, and a refusal is a
// client error.
func FuzzExtractContext(f *testing.F) {
	for _, entries := range [][]*tar.Header{
		{{Name: "Dockerfile", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "../outside/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "/outside/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, {Name: "up/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "abs/tmp/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, {Name: "up/d", Typeflag: tar.TypeDir, Mode: 0o777}},
		{{Name: "lnk", Typeflag: tar.TypeSymlink, Linkname: "../outside/keep"}, {Name: "hard", Typeflag: tar.TypeLink, Linkname: "lnk"}, {Name: "hard", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "lnk", Typeflag: tar.TypeSymlink, Linkname: "../outside/keep"}, {Name: "lnk", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: ".dockerignore", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, {Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			if err := tw.WriteHeader(h); err != nil {
				f.Fatal(err)
			}
			if h.Size > 0 {
				tw.Write([]byte("*"))
			}
		}
		tw.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, context []byte) {
		base := t.TempDir()
		dir := filepath.Join(base, "ctx")
		outside := filepath.Join(base, "outside")
		for _, d := range []string{dir, outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := treesnap.Of(t, base, dir)
		err := ExtractContext(bytes.NewReader(context), dir, "Dockerfile", 1<<20)
		if err != nil && errdefs.HTTPStatus(err) >= 500 && strings.HasPrefix(err.Error(), "build context") {
			t.Fatalf("got %v (status %d), want a client error", err, errdefs.HTTPStatus(err))
		}
		if after := treesnap.Of(t, base, dir); after != before {
			t.Fatalf("ExtractContext wrote outside the context (err %v):\nbefore:\n%s\nafter:\n%s", err, before, after)
		}
	})
}
