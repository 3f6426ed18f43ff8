package images

import (
	"archive/tar"
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// escapeName is the file the hostile seeds try to write outside the
// snapshotter's root; escapeDirs are where a climb would land it.
const escapeName = "shoal-fuzz-escape"

var escapeDirs = []string{"/", "/tmp", "/run", "/var/lib"}

// hostileLayers are root filesystem tars that climb out with ../ and
// absolute names, through symlinks and hard links, with huge headers.
func hostileLayers(t testing.TB) [][]byte {
	climb := strings.Repeat("../", 12)
	var out [][]byte
	for _, entries := range [][]*tar.Header{
		{{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: climb + escapeName, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "/" + escapeName, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "up", Typeflag: tar.TypeSymlink, Linkname: climb + "tmp"}, {Name: "up/" + escapeName, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "abs/" + escapeName, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "hard", Typeflag: tar.TypeLink, Linkname: climb + "etc/passwd"}},
		{{Name: ".wh..wh..opq", Typeflag: tar.TypeReg, Size: 1}, {Name: ".wh.." + escapeName, Typeflag: tar.TypeReg, Size: 1}},
		{{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, PAXRecords: map[string]string{"comment": strings.Repeat("c", 1<<16)}}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Size > 0 {
				tw.Write([]byte("x"))
			}
		}
		tw.Close()
		out = append(out, buf.Bytes())
	}
	return out
}

// fuzzStore is a Store in a namespace of its own that logs nothing: the
// fuzzer runs it thousands of times.
func fuzzStore() *Store {
	return New(testClient, Options{Namespace: "fuzz-" + strings.ToLower(identity.NewID()), Logger: slog.New(slog.DiscardHandler)})
}

// imageRecords lists the store's image records, name and target.
func imageRecords(t *testing.T, s *Store) string {
	t.Helper()
	recs, err := s.c.ImageService().List(s.ctx(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Name + " " + r.Target.Digest.String() + "\n")
	}
	return b.String()
}

// checkContained fails when a file named escapeName appeared where a climb
// out of containerd's root would put it.
func checkContained(t *testing.T, input []byte) {
	t.Helper()
	for _, dir := range escapeDirs {
		p := filepath.Join(dir, escapeName)
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Fatalf("input %q wrote %s, outside containerd's root", input, p)
		}
	}
}

// FuzzImport feeds any root filesystem archive to docker import: a bad
// one is refused with a client error, nothing lands outside the
// snapshotter's root, and nothing panics.
func FuzzImport(f *testing.F) {
	for _, layer := range hostileLayers(f) {
		f.Add(layer)
	}
	f.Add([]byte("not a tar"))
	f.Add([]byte("\x1f\x8b\x08\x00garbage"))
	s := fuzzStore()
	f.Fuzz(func(t *testing.T, rootfs []byte) {
		before := imageRecords(t, s)
		_, err := s.Import(t.Context(), bytes.NewReader(rootfs), "", nil)
		if err != nil && errdefs.HTTPStatus(err) >= 500 {
			t.Fatalf("import %q: got %v (status %d), want a client error", rootfs, err, errdefs.HTTPStatus(err))
		}
		if after := imageRecords(t, s); err != nil && after != before {
			t.Fatalf("import %q failed (%v) but changed the images:\n%s\nnow:\n%s", rootfs, err, before, after)
		}
		checkContained(t, rootfs)
	})
}

// FuzzLoad feeds any archive to docker load, seeded with docker save
// archives of the hostile layers: a bad one is refused with a client
// error, nothing lands outside the snapshotter's root, and nothing panics.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	for i, layer := range hostileLayers(f) {
		rootfs := filepath.Join(dir, "layer.tar")
		if err := os.WriteFile(rootfs, layer, 0o644); err != nil {
			f.Fatal(err)
		}
		img, err := testimage.BuildImage(rootfs)
		if err != nil {
			f.Fatal(err)
		}
		save, err := os.ReadFile(testimage.DockerSave(f, "hostile:"+string(rune('a'+i)), img))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(save)
	}
	f.Add([]byte("not an archive"))
	s := fuzzStore()
	f.Fuzz(func(t *testing.T, archive []byte) {
		before := imageRecords(t, s)
		_, err := s.Load(t.Context(), bytes.NewReader(archive))
		if err != nil && errdefs.HTTPStatus(err) >= 500 {
			t.Fatalf("load: got %v (status %d), want a client error", err, errdefs.HTTPStatus(err))
		}
		if after := imageRecords(t, s); err != nil && after != before {
			t.Fatalf("load failed (%v) but changed the images:\n%s\nnow:\n%s", err, before, after)
		}
		checkContained(t, archive)
	})
}
