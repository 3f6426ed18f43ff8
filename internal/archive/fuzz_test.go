package archive

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

// FuzzExtract feeds Extract any archive a docker cp into a container
// could send, into a root beside a directory it must never touch. Whatever
// the archive holds (entries climbing out with ../ or absolute names,
// symlinks and hard links out of the root, entries below such links,
// truncated or malformed headers), nothing is written outside the root,
// Extract does not panic, a malformed archive is an Invalid error, and an
// archive refused as Invalid leaves the root as it was: the check before
// extraction refuses whatever extraction would stop on.
func FuzzExtract(f *testing.F) {
	for _, entries := range [][]*tar.Header{
		{{Name: "a.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "../outside/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "/outside/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "sub/../../outside/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, {Name: "up/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "escape/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "abs/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../outside/keep"}},
		{{Name: "lnk", Typeflag: tar.TypeSymlink, Linkname: "../outside/keep"}, {Name: "hard", Typeflag: tar.TypeLink, Linkname: "lnk"}, {Name: "hard", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "d", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "d", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, {Name: "fifo", Typeflag: tar.TypeFifo}},
		{{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, {Name: "ok/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, {Name: "h", Typeflag: tar.TypeLink, Linkname: "none"}},
		{{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, {Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../.."}},
		{{Name: "d", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, {Name: "d", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, {Name: "d", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "h", Typeflag: tar.TypeLink, Linkname: "d/f"}},
		{{Name: "s", Typeflag: tar.TypeReg, Mode: 0o7777, Size: 1, Uid: 1 << 30, Gid: -1}},
		{{Name: strings.Repeat("long/", 200) + "x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, PAXRecords: map[string]string{"comment": strings.Repeat("c", 4096)}}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			if err := tw.WriteHeader(h); err != nil {
				f.Fatal(err)
			}
			if h.Size > 0 {
				tw.Write([]byte("x"))
			}
		}
		tw.Close()
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()/2]) // truncated
	}
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, archive []byte) {
		base := t.TempDir()
		dir := filepath.Join(base, "root")
		outside := filepath.Join(base, "outside")
		for _, d := range []string{filepath.Join(dir, "dst"), outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Symlink("../../outside", filepath.Join(dir, "dst", "escape"))
		before := treesnap.Of(t, base, dir)
		beforeRoot := treesnap.Of(t, dir, "")
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()

		err = extractTar(t, root, "/dst", bytes.NewReader(archive), false, nil)
		if err != nil && errdefs.KindOf(err) == errdefs.KindUnknown && strings.HasPrefix(err.Error(), "read the archive") {
			t.Fatalf("a malformed archive is not an Invalid error: %v", err)
		}
		if after := treesnap.Of(t, base, dir); after != before {
			t.Fatalf("Extract wrote outside the root (err %v):\nbefore:\n%s\nafter:\n%s", err, before, after)
		}
		if errdefs.Is(err, errdefs.KindInvalid) {
			if after := treesnap.Of(t, dir, ""); after != beforeRoot {
				t.Fatalf("Extract refused the archive (%v) but wrote part of it:\nbefore:\n%s\nafter:\n%s", err, beforeRoot, after)
			}
		}
	})
}
