package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// newRoot makes a container root filesystem:
//
//	/etc/hostname         "box\n"
//	/etc/link -> hostname
//	/data/a.txt           "a"
//	/data/sub/b.txt       "bb"
//	/out -> /etc          (absolute: inside the container, not the host)
//	/escape -> ../../..   (climbs no higher than the container's root)
func newRoot(t *testing.T) *os.Root {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"etc/hostname": "box\n", "data/a.txt": "a", "data/sub/b.txt": "bb"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("hostname", filepath.Join(dir, "etc/link"))
	os.Symlink("/etc", filepath.Join(dir, "out"))
	os.Symlink("../../..", filepath.Join(dir, "escape"))
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func entries(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		e := hdr.Name
		if hdr.Typeflag == tar.TypeSymlink {
			e += "->" + hdr.Linkname
		}
		if len(body) > 0 {
			e += "=" + string(body)
		}
		out = append(out, e)
	}
}

func TestTar(t *testing.T) {
	root := newRoot(t)
	tests := []struct {
		path string
		want []string
		err  string
	}{
		{path: "/etc/hostname", want: []string{"hostname=box\n"}},
		{path: "/data", want: []string{"data/", "data/a.txt=a", "data/sub/", "data/sub/b.txt=bb"}},
		{path: "/data/sub/", want: []string{"sub/", "sub/b.txt=bb"}},
		{path: "/data/.", want: []string{"./", "./a.txt=a", "./sub/", "./sub/b.txt=bb"}},
		{path: "/etc/link", want: []string{"link->hostname"}},
		{path: "/out/", want: []string{"out/", "out/hostname=box\n", "out/link->hostname"}},
		{path: "/out/hostname", want: []string{"hostname=box\n"}},
		{path: "/escape/etc/hostname", want: []string{"hostname=box\n"}},
		{path: "/nothing", err: "Could not find the file /nothing in container"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var buf bytes.Buffer
			err := Tar(root, tt.path, &buf, nil)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errdefs.Is(err, errdefs.KindNotFound) {
					t.Fatalf("Tar: %v, want not found %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(t, buf.Bytes()); !slices.Equal(got, tt.want) {
				t.Fatalf("Tar(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestExport(t *testing.T) {
	var buf bytes.Buffer
	if err := Export(newRoot(t), &buf, nil); err != nil {
		t.Fatal(err)
	}
	// Links are entries, never followed: nothing of the host's.
	want := []string{"data/", "data/a.txt=a", "data/sub/", "data/sub/b.txt=bb", "escape->../../..",
		"etc/", "etc/hostname=box\n", "etc/link->hostname", "out->/etc"}
	if got := entries(t, buf.Bytes()); !slices.Equal(got, want) {
		t.Fatalf("Export = %q, want %q", got, want)
	}
}

func TestStat(t *testing.T) {
	root := newRoot(t)
	st, err := Stat(root, "/out")
	if err != nil || st.Name != "out" || st.Mode&os.ModeSymlink == 0 || st.LinkTarget != "/etc" {
		t.Fatalf("Stat(/out) = %+v, %v; want the link, resolved to /etc", st, err)
	}
	st, err = Stat(root, "/escape")
	if err != nil || st.LinkTarget != "/" {
		t.Fatalf("Stat(/escape) = %+v, %v; want a link resolved to the container's root", st, err)
	}
	st, err = Stat(root, "/data/a.txt")
	if err != nil || st.Size != 1 || st.Mode.IsDir() || st.LinkTarget != "" {
		t.Fatalf("Stat(/data/a.txt) = %+v, %v", st, err)
	}
	if st, err := Stat(root, "/"); err != nil || !st.Mode.IsDir() {
		t.Fatalf("Stat(/) = %+v, %v", st, err)
	}
	if _, err := Stat(root, "/data/none"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("Stat of a missing path: %v", err)
	}
}

func tarOf(t *testing.T, hdrs ...*tar.Header) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := h.Linkname
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Gname))
			body = h.Gname
			h.Gname = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	return &buf
}

// file is a tar entry of a regular file; Gname carries its content.
func file(name, content string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o640, Gname: content}
}

func TestExtract(t *testing.T) {
	root := newRoot(t)
	in := tarOf(t,
		&tar.Header{Name: "new/", Typeflag: tar.TypeDir, Mode: 0o750},
		file("new/f.txt", "hello"),
		&tar.Header{Name: "new/l", Typeflag: tar.TypeSymlink, Linkname: "f.txt", Mode: 0o777},
		&tar.Header{Name: "new/h", Typeflag: tar.TypeLink, Linkname: "new/f.txt"},
		file("a.txt", "replaced"),
	)
	if err := extractTar(t, root, "/data", in, true, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"data/new/f.txt": "hello", "data/new/l": "hello", "data/new/h": "hello", "data/a.txt": "replaced"} {
		if b, err := root.ReadFile(name); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if fi, _ := root.Stat("data/new/f.txt"); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode of f.txt = %v, want 0640", fi.Mode())
	}
	// Through a symlink to a directory, as docker cp into /out does.
	if err := extractTar(t, root, "/out", tarOf(t, file("via-link", "x")), true, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := root.ReadFile("etc/via-link"); string(b) != "x" {
		t.Errorf("extraction through /out -> /etc wrote %q to /etc/via-link", b)
	}

	for _, tt := range []struct {
		name, dir string
		in        *bytes.Buffer
		err       string
	}{
		{"into a file", "/data/a.txt", tarOf(t, file("x", "x")), "extraction point is not a directory"},
		{"into nothing", "/none", tarOf(t, file("x", "x")), "Could not find the file /none in container"},
		{"a dir over a file", "/data", tarOf(t, &tar.Header{Name: "a.txt/", Typeflag: tar.TypeDir, Mode: 0o755}),
			`cannot overwrite non-directory "/data/a.txt" with directory "a.txt/"`},
		{"a file over a dir", "/data", tarOf(t, file("sub", "x")), `cannot overwrite directory "/data/sub" with non-directory "sub"`},
		{"an entry climbing out", "/data", tarOf(t, file("../../etc/evil", "x")), "is outside the extraction point"},
		{"a hard link climbing out", "/data", tarOf(t, &tar.Header{Name: "h2", Typeflag: tar.TypeLink, Linkname: "../etc/hostname"}),
			"links outside the extraction point"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := extractTar(t, root, tt.dir, tt.in, true, nil)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Extract: %v, want %q", err, tt.err)
			}
		})
	}

	// A symlink in the archive that points out of the container leads
	// back into it: what is written through it stays inside.
	outside := t.TempDir()
	evil := tarOf(t,
		&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: outside, Mode: 0o777},
		file("up/pwned", "x"),
	)
	extractTar(t, root, "/data", evil, false, nil)
	if _, err := os.Stat(filepath.Join(outside, "pwned")); err == nil {
		t.Fatal("an archive wrote outside the container's root through a symlink")
	}
}

// TestOwnersRemapped checks that docker cp and export of a container in a
// remapped user namespace give the owners it sees, and that a copy into it
// stores them as the host's IDs, refusing one the container cannot have.
func TestOwnersRemapped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to other owners")
	}
	ids := &confine.Remap{User: "dockremap", Group: "dockremap",
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}}
	root := newRoot(t)
	if err := root.Lchown("data/a.txt", 100005, 200007); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Tar(root, "/data", &buf, ids); err != nil {
		t.Fatal(err)
	}
	owners := map[string][2]int{}
	tr := tar.NewReader(&buf)
	for hdr, err := tr.Next(); err == nil; hdr, err = tr.Next() {
		owners[hdr.Name] = [2]int{hdr.Uid, hdr.Gid}
	}
	// data/ itself is the test's (host root): no ID the container maps.
	if got, want := owners["data/a.txt"], [2]int{5, 7}; got != want {
		t.Errorf("owner of data/a.txt in the tar = %v, want %v", got, want)
	}
	if got, want := owners["data/"], [2]int{confine.OverflowID, confine.OverflowID}; got != want {
		t.Errorf("owner of data/ in the tar = %v, want %v", got, want)
	}

	in := tarOf(t, &tar.Header{Name: "mine.txt", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1000, Gname: "x"})
	if err := extractTar(t, root, "/data", in, true, ids); err != nil {
		t.Fatal(err)
	}
	fi, err := root.Lstat("data/mine.txt")
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 101000 || st.Gid != 201000 {
		t.Errorf("data/mine.txt is owned by %d:%d on the host, want 101000:201000", st.Uid, st.Gid)
	}
	out := tarOf(t, &tar.Header{Name: "near.txt", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 5, Gname: "x"},
		&tar.Header{Name: "far.txt", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 70000, Gname: "x"})
	if err := extractTar(t, root, "/data", out, true, ids); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Errorf("extracting an owner outside the mapping: %v, want invalid", err)
	}
	for _, name := range []string{"data/near.txt", "data/far.txt"} {
		if _, err := root.Lstat(name); err == nil {
			t.Errorf("%s was written although far.txt's owner was refused", name)
		}
	}
}

// extractTar extracts r as Extract does, spooled to a file of the test's.
func extractTar(t testing.TB, root *os.Root, dir string, r io.Reader, noOverwriteDirNonDir bool, ids IDMap) error {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "spool-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Extract(root, dir, r, f, noOverwriteDirNonDir, ids)
}
