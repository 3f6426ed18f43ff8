package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/testutil/treesnap"
)

// mapTree is a tree on paper: a name's node, nothing where it has none.
type mapTree map[string]node

func (m mapTree) lookup(name string) (node, error) { return m[name], nil }

// ranged maps owners below 65536 to themselves and refuses the rest.
type ranged struct{}

func (ranged) ToHost(uid, gid int) (int, int, error) {
	if uid >= 65536 || gid >= 65536 {
		return 0, 0, errors.New("owner outside the user namespace")
	}
	return uid, gid, nil
}
func (ranged) ToContainer(uid, gid int) (int, int) { return uid, gid }

func reg(name string) member              { return member{name: name, typ: tar.TypeReg} }
func dir(name string) member              { return member{name: name, typ: tar.TypeDir} }
func symlink(name, to string) member      { return member{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) member     { return member{name: name, typ: tar.TypeLink, link: to} }
func owned(m member, uid, gid int) member { m.uid, m.gid = uid, gid; return m }

// TestCheck decides archives over a tree on paper holding
//
//	/dst/a.txt, /dst/sub/b.txt, /etc/hostname, /dst/toetc -> /etc
//
// extracted into /dst: every entry the extraction would refuse or fail on
// for what the archive says is found, whatever came before it.
func TestCheck(t *testing.T) {
	base := mapTree{
		".": {kind: kindDir}, "dst": {kind: kindDir}, "dst/a.txt": {kind: kindOther},
		"dst/sub": {kind: kindDir}, "dst/sub/b.txt": {kind: kindOther},
		"etc": {kind: kindDir}, "etc/hostname": {kind: kindOther},
		"dst/toetc": {kind: kindSymlink, link: "/etc"},
	}
	good := []member{dir("new/"), reg("new/f.txt"), reg("a.txt")}
	long := strings.Repeat("n", 256)
	for _, tt := range []struct {
		name        string
		in          []member
		noOverwrite bool
		err         string // "" when it passes
	}{
		{"good", good, true, ""},
		{"an absolute name is below the extraction point, as dockerd takes it", append(good, reg("/abs.txt"), reg("/../x")), true, ""},
		{"climbing out", append(good, reg("../evil.txt")), true, `"../evil.txt" is outside the extraction point`},
		{"climbing out deeper", append(good, reg("new/../../evil.txt")), true, "is outside the extraction point"},
		{"a symlink climbing out", append(good, symlink("up", "../../..")), true, `"up" is a symbolic link to "../../..", outside the extraction point`},
		{"a symlink within", append(good, symlink("new/l", "../a.txt")), true, ""},
		{"an absolute symlink and an entry below it", append(good, symlink("abs", "/etc"), reg("abs/x")), true, ""},
		{"an empty symlink", append(good, symlink("l", "")), true, "a symbolic link's target must have 1 to 4095 bytes"},
		{"below a file of the archive", append(good, reg("f"), reg("f/x")), true, `"f/x": /dst/f is not a directory`},
		{"below a file that is there", append(good, reg("a.txt/x")), true, `"a.txt/x": /dst/a.txt is not a directory`},
		{"below a symlink to a file", append(good, symlink("h", "/etc/hostname"), reg("h/x")), true, `"h/x": /etc/hostname is not a directory`},
		{"below a symlink that is there", append(good, reg("toetc/x")), true, ""},
		{"symlinks in a loop", append(good, symlink("a", "b"), symlink("b", "a"), reg("a/x")), true, "too many levels of symbolic links"},
		{"a directory over a file that is there", append(good, dir("a.txt/")), true, `cannot overwrite non-directory "/dst/a.txt" with directory "a.txt/"`},
		{"a file over a directory that is there", append(good, reg("sub")), true, `cannot overwrite directory "/dst/sub" with non-directory "sub"`},
		{"a file over a directory of the archive", append(good, reg("new")), true, `cannot overwrite directory "/dst/new" with non-directory "new"`},
		{"a file over a directory, allowed", append(good, reg("sub")), false, ""},
		{"a hard link to a file of the archive", append(good, hardlink("h", "new/f.txt")), true, ""},
		{"a hard link to a file that is there", append(good, hardlink("h", "/sub/b.txt")), true, ""},
		{"a hard link to nothing", append(good, hardlink("h", "none")), true, `"h" links to "none", which is not there`},
		{"a hard link to a directory", append(good, hardlink("h", "sub")), true, `"h" links to "sub", a directory`},
		{"a hard link climbing out", append(good, hardlink("h", "../etc/hostname")), true, `"h" links outside the extraction point`},
		{"a hard link into what a replaced directory held", append(good, reg("sub"), dir("sub"), hardlink("h", "sub/b.txt")), false, `"h" links to "sub/b.txt", which is not there`},
		{"a hard link to what the archive put back", append(good, reg("sub"), dir("sub"), reg("sub/b.txt"), hardlink("h", "sub/b.txt")), false, ""},
		{"a hard link to what its own entry replaces", append(good, hardlink("a.txt", "a.txt")), true, `"a.txt" links to "a.txt", which is not there`},
		{"a name too long for Linux", append(good, reg(long)), true, "a name in it is longer than 255 bytes"},
		{"a path too long for Linux", append(good, reg(strings.Repeat("d/", 2048))), true, "the name is longer than 4095 bytes"},
		{"an owner outside the user namespace", append(good, owned(reg("far.txt"), 70000, 0)), true, `"far.txt": owner outside the user namespace`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := check(base, "dst", tt.in, tt.noOverwrite, ranged{})
			if tt.err == "" {
				if err != nil {
					t.Fatalf("check: %v, want it to pass", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.Is(err, errdefs.KindInvalid) {
				t.Fatalf("check: %v, want invalid %q", err, tt.err)
			}
		})
	}
}

// TestExtractBadLastEntry extracts archives whose good entries come first
// and whose last is bad: each is refused and the container's tree is as
// it was.
func TestExtractBadLastEntry(t *testing.T) {
	good := func() []*tar.Header {
		return []*tar.Header{{Name: "new/", Typeflag: tar.TypeDir, Mode: 0o755}, file("new/f.txt", "hello"), file("a.txt", "replaced")}
	}
	truncated := tarOf(t, append(good(), file("big.txt", strings.Repeat("y", 4096)))...).Bytes()
	truncated = truncated[:len(truncated)-1024-2048] // into big.txt's content
	for _, tt := range []struct {
		name string
		in   []byte
		err  string
		kind errdefs.Kind
	}{
		{"climbing out", tarOf(t, append(good(), file("../evil", "x"))...).Bytes(), "is outside the extraction point", errdefs.KindInvalid},
		{"below a file", tarOf(t, append(good(), file("a.txt/x", "x"))...).Bytes(), "/data/a.txt is not a directory", errdefs.KindInvalid},
		{"a file over a directory", tarOf(t, append(good(), file("sub", "x"))...).Bytes(), "cannot overwrite directory", errdefs.KindInvalid},
		{"a symlink climbing out", tarOf(t, append(good(), &tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../.."})...).Bytes(), "outside the extraction point", errdefs.KindInvalid},
		{"a hard link to nothing", tarOf(t, append(good(), &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "none"})...).Bytes(), "which is not there", errdefs.KindInvalid},
		{"truncated", truncated, `read the archive after entry "big.txt": unexpected EOF`, errdefs.KindInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			before := treesnap.Of(t, root.Name(), "")
			err := extractTar(t, root, "/data", bytes.NewReader(tt.in), true, nil)
			if err == nil || !strings.Contains(err.Error(), tt.err) || errdefs.KindOf(err) != tt.kind {
				t.Fatalf("Extract: %v, want %v %q", err, tt.kind, tt.err)
			}
			if after := treesnap.Of(t, root.Name(), ""); after != before {
				t.Fatalf("a refused archive changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestExtractLimits refuses an archive past the spool's limit, or with
// more names than the check keeps, naming the limit.
func TestExtractLimits(t *testing.T) {
	in := tarOf(t, file("a.txt", strings.Repeat("a", 4096)), file("b.txt", "b")).Bytes()
	for _, tt := range []struct {
		name                string
		maxSize, maxHeaders int64
		err                 string
	}{
		{"size", 4 << 10, 1 << 20, "limits.MaxCopyArchive"},
		{"headers", 1 << 20, entryCost + 10, "limits.MaxCopyHeaders"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			before := treesnap.Of(t, root.Name(), "")
			var spooled bytes.Buffer
			err := extract(root, "/data", bytes.NewReader(in), &seekBuffer{b: &spooled}, true, nil, tt.maxSize, tt.maxHeaders)
			if !errdefs.Is(err, errdefs.KindTooLarge) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("extract: %v, want too large naming %s", err, tt.err)
			}
			if after := treesnap.Of(t, root.Name(), ""); after != before {
				t.Fatalf("an archive past a limit changed the tree:\n%s", after)
			}
		})
	}
}

// seekBuffer is a spool in memory; only a refused archive is put there,
// never read back.
type seekBuffer struct{ b *bytes.Buffer }

func (s *seekBuffer) Write(p []byte) (int, error)    { return s.b.Write(p) }
func (s *seekBuffer) Read(p []byte) (int, error)     { return 0, io.EOF }
func (s *seekBuffer) Seek(int64, int) (int64, error) { return 0, errors.New("not seekable") }
