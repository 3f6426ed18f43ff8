package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
)

// Extraction into a container is all or nothing for a bad archive: the
// archive is spooled (bounded by limits.MaxCopyArchive) while its headers
// are indexed (bounded by limits.MaxCopyHeaders), every entry is then
// decided on paper, over an overlay of the container's tree, by the same
// function that places it when extracting (place), and only an archive
// whose every entry passes is extracted. A staging directory moved into
// place was the other way: it would have to sit on the filesystem of the
// destination (a volume, a bind mount, the container's layer), be seen by
// the running container meanwhile, and be merged entry by entry into
// directories that exist, replacing files and following the symlinks that
// earlier entries made exactly as a direct extraction does, so that the
// merge would itself be the extraction, with the same ways to stop half
// way. Spooling costs a second write of the archive's bytes, to the
// daemon's disk. What fails after the check (a full disk, a quota, a
// running container changing its files meanwhile) can still leave the
// entries before it written.

// Linux's limits on names, and what the check keeps of an entry.
const (
	// maxPath is the longest name an entry, or a symlink's target, may
	// have: Linux's PATH_MAX less its NUL.
	maxPath = 4095
	// maxName is the longest component of a name: Linux's NAME_MAX.
	maxName = 255
	// entryCost is what the check keeps of an entry besides its names:
	// the entry and its node of the overlay, counted against
	// limits.MaxCopyHeaders.
	entryCost = 160
)

// member is what the check keeps of a tar header.
type member struct {
	name, link string
	typ        byte
	uid, gid   int
}

func memberOf(h *tar.Header) member {
	return member{name: h.Name, link: h.Linkname, typ: h.Typeflag, uid: h.Uid, gid: h.Gid}
}

// label is an entry's name for a message: a name past a few hundred bytes
// is cut short.
func label(name string) string {
	if len(name) > 200 {
		return fmt.Sprintf("%q… (%d bytes)", name[:200], len(name))
	}
	return fmt.Sprintf("%q", name)
}

// entryName is the name of an entry relative to the extraction point, as
// dockerd takes it: cleaned, a leading "/" meaning the extraction point;
// "." for the extraction point itself.
func entryName(name string) string {
	n := path.Clean(name)
	if path.IsAbs(n) {
		return rel(n)
	}
	return n
}

// climbs says whether the clean relative name leads above where it
// starts.
func climbs(name string) bool {
	return name == ".." || strings.HasPrefix(name, "../")
}

// checkEntry refuses what no tree could take of e: a name leading out of
// the extraction point or too long for Linux, a symlink climbing out of
// the extraction point (dockerd's rule: an absolute target is the
// container's business), a hard link to a name outside it, an owner the
// container's user namespace cannot have (ids). It returns e's owners on
// the host.
func checkEntry(e member, ids IDMap) (uid, gid int, err error) {
	if len(e.name) > maxPath {
		return 0, 0, errdefs.Invalid("archive entry %s: the name is longer than %d bytes", label(e.name), maxPath)
	}
	name := entryName(e.name)
	if climbs(name) {
		return 0, 0, errdefs.Invalid("archive entry %s is outside the extraction point", label(e.name))
	}
	for _, c := range strings.Split(name, "/") {
		if len(c) > maxName {
			return 0, 0, errdefs.Invalid("archive entry %s: a name in it is longer than %d bytes", label(e.name), maxName)
		}
	}
	switch e.typ {
	case tar.TypeSymlink:
		if e.link == "" || len(e.link) > maxPath {
			return 0, 0, errdefs.Invalid("archive entry %s: a symbolic link's target must have 1 to %d bytes", label(e.name), maxPath)
		}
		if !path.IsAbs(e.link) && climbs(path.Join(path.Dir(name), e.link)) {
			return 0, 0, errdefs.Invalid("archive entry %s is a symbolic link to %s, outside the extraction point", label(e.name), label(e.link))
		}
	case tar.TypeLink:
		if climbs(entryName(e.link)) {
			return 0, 0, errdefs.Invalid("archive entry %s links outside the extraction point", label(e.name))
		}
	}
	uid, gid = e.uid, e.gid
	if ids != nil {
		if uid, gid, err = ids.ToHost(e.uid, e.gid); err != nil {
			return 0, 0, errdefs.Invalid("archive entry %s: %v", label(e.name), err)
		}
	}
	return uid, gid, nil
}

// placement is where an entry goes.
type placement struct {
	target  string // its name in the root
	parent  string // target's directory, made if missing
	replace bool   // what is at target is removed first
}

// extraction decides where entries go in a tree: below dir (a resolved
// name in the root), a directory never replaced by a non-directory nor the
// other way round with noOverwriteDirNonDir.
type extraction struct {
	t                    tree
	dir                  string
	noOverwriteDirNonDir bool
}

// place decides where e goes, after checkEntry passed it; ok is false
// for the extraction point itself, which is left alone. An entry below a
// symlink goes where the symlink leads in the container.
func (x extraction) place(e member) (p placement, ok bool, err error) {
	name := entryName(e.name)
	if name == "." {
		return placement{}, false, nil
	}
	dir, err := resolve(x.t, path.Join(x.dir, path.Dir(name)))
	if err != nil {
		return placement{}, false, err
	}
	if dir.notDir == "" {
		// The entry's directory itself, which resolve does not look
		// past.
		if n, err := x.t.lookup(rel(dir.path)); err != nil {
			return placement{}, false, err
		} else if n.kind == kindOther {
			dir.notDir = dir.path
		}
	}
	if dir.notDir != "" {
		return placement{}, false, errdefs.Invalid("archive entry %s: %s is not a directory", label(e.name), dir.notDir)
	}
	p = placement{target: rel(path.Join(dir.path, path.Base(name))), parent: rel(dir.path)}
	old, err := x.t.lookup(p.target)
	if err != nil || old.kind == kindNone {
		return p, err == nil, err
	}
	oldDir, isDir := old.kind == kindDir, e.typ == tar.TypeDir
	if x.noOverwriteDirNonDir && oldDir != isDir {
		if oldDir {
			return placement{}, false, errdefs.Invalid("cannot overwrite directory %q with non-directory %s", "/"+p.target, label(e.name))
		}
		return placement{}, false, errdefs.Invalid("cannot overwrite non-directory %q with directory %s", "/"+p.target, label(e.name))
	}
	p.replace = !(oldDir && isDir)
	return p, true, nil
}

// linkSource is the name in the root of what the hard link e links to,
// decided once e's place is cleared: a name below the extraction point,
// that must be there and not be a directory.
func (x extraction) linkSource(e member) (string, error) {
	src, err := locate(x.t, path.Join(x.dir, entryName(e.link)), false)
	if err != nil {
		return "", err
	}
	n, err := x.t.lookup(src)
	switch {
	case err != nil:
		return "", err
	case n.kind == kindNone:
		return "", errdefs.Invalid("archive entry %s links to %s, which is not there", label(e.name), label(e.link))
	case n.kind == kindDir:
		return "", errdefs.Invalid("archive entry %s links to %s, a directory", label(e.name), label(e.link))
	}
	return src, nil
}

// check decides every entry over an overlay of t, as extract then does
// on t itself: the first entry that extraction would refuse or fail on
// for what the archive holds is refused here, before anything is written.
func check(t tree, dir string, entries []member, noOverwriteDirNonDir bool, ids IDMap) error {
	o := &overlay{base: t}
	x := extraction{t: o, dir: dir, noOverwriteDirNonDir: noOverwriteDirNonDir}
	for _, e := range entries {
		if _, _, err := checkEntry(e, ids); err != nil {
			return err
		}
		p, ok, err := x.place(e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if p.replace {
			o.set(p.target, node{}, true)
		}
		if err := o.mkdirAll(p.parent); err != nil {
			return err
		}
		var n node
		switch e.typ {
		case tar.TypeDir:
			n.kind = kindDir
		case tar.TypeReg:
			n.kind = kindOther
		case tar.TypeSymlink:
			n = node{kind: kindSymlink, link: e.link}
		case tar.TypeLink:
			if _, err := x.linkSource(e); err != nil {
				return err
			}
			n.kind = kindOther
		}
		o.set(p.target, n, false)
	}
	return nil
}

// errTooLarge is the spool's refusal of bytes past its limit.
var errTooLarge = errors.New("archive past its limit")

// boundedWriter writes to w at most left bytes.
type boundedWriter struct {
	w    io.Writer
	left int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		return 0, errTooLarge
	}
	b.left -= int64(len(p))
	return b.w.Write(p)
}

// spool copies the tar r to spool, at most maxSize bytes of it, and
// returns its entries, their names at most maxHeaders bytes (with
// entryCost each). A malformed or truncated archive is refused here,
// before anything is extracted.
func spool(spool io.Writer, r io.Reader, maxSize, maxHeaders int64) ([]member, error) {
	tr := tar.NewReader(io.TeeReader(r, &boundedWriter{w: spool, left: maxSize}))
	var entries []member
	var kept int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if errors.Is(err, errTooLarge) {
			return nil, errdefs.TooLarge("the archive is larger than the limit of %d MiB (limits.MaxCopyArchive)", maxSize>>20)
		}
		if err != nil {
			if len(entries) > 0 {
				return nil, errdefs.Invalid("read the archive after entry %s: %v", label(entries[len(entries)-1].name), err)
			}
			return nil, errdefs.Invalid("read the archive: %v", err)
		}
		if kept += int64(len(hdr.Name)+len(hdr.Linkname)) + entryCost; kept > maxHeaders {
			return nil, errdefs.TooLarge("the archive has more entries than the limit of %d MiB of names (limits.MaxCopyHeaders) holds", maxHeaders>>20)
		}
		entries = append(entries, memberOf(hdr))
	}
}

// Extract writes the entries of the tar r under the directory dir of
// root, as dockerd extracts a docker cp into a container: owners, modes
// and times kept (owners as the host stores the container's, ids); with
// noOverwriteDirNonDir, a directory is never replaced by something else
// nor the other way round. The archive is first copied to spool, where it
// is read again, and checked whole: an archive with an entry that cannot
// be extracted is refused with nothing written.
func Extract(root *os.Root, dir string, r io.Reader, spoolTo io.ReadWriteSeeker, noOverwriteDirNonDir bool, ids IDMap) error {
	return extract(root, dir, r, spoolTo, noOverwriteDirNonDir, ids, limits.MaxCopyArchive, limits.MaxCopyHeaders)
}

func extract(root *os.Root, dir string, r io.Reader, spoolTo io.ReadWriteSeeker, noOverwriteDirNonDir bool, ids IDMap, maxSize, maxHeaders int64) error {
	t := rootTree{root}
	d, err := locate(t, dir, true)
	if err != nil {
		return err
	}
	fi, err := root.Stat(d)
	if err != nil {
		return notFound(dir, err)
	}
	if !fi.IsDir() {
		return errdefs.Invalid("extraction point is not a directory")
	}
	entries, err := spool(spoolTo, r, maxSize, maxHeaders)
	if err != nil {
		return err
	}
	if err := check(t, d, entries, noOverwriteDirNonDir, ids); err != nil {
		return err
	}
	if _, err := spoolTo.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind the spooled archive: %w", err)
	}
	x := extraction{t: t, dir: d, noOverwriteDirNonDir: noOverwriteDirNonDir}
	tr := tar.NewReader(spoolTo)
	var dirTimes []*tar.Header // set last: writing into a directory changes its time
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the spooled archive: %w", err)
		}
		e := memberOf(hdr)
		if hdr.Uid, hdr.Gid, err = checkEntry(e, ids); err != nil {
			return err
		}
		p, ok, err := x.place(e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := extractEntry(root, tr, hdr, p, x); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			h.Name = p.target
			dirTimes = append(dirTimes, &h)
		}
	}
	for _, h := range dirTimes {
		root.Chtimes(h.Name, h.AccessTime, h.ModTime)
	}
	return nil
}

func extractEntry(root *os.Root, tr *tar.Reader, hdr *tar.Header, p placement, x extraction) error {
	target := p.target
	if p.replace {
		if err := root.RemoveAll(target); err != nil {
			return fmt.Errorf("replace %s: %w", target, err)
		}
	}
	if err := root.MkdirAll(p.parent, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", p.parent, err)
	}
	mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.Mkdir(target, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", target, err)
		}
	case tar.TypeReg:
		f, err := root.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return fmt.Errorf("create %s: %w", target, err)
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", target, err)
		}
	case tar.TypeSymlink:
		if err := root.Symlink(hdr.Linkname, target); err != nil {
			return fmt.Errorf("create link %s: %w", target, err)
		}
		root.Lchown(target, hdr.Uid, hdr.Gid)
		return nil
	case tar.TypeLink:
		src, err := x.linkSource(memberOf(hdr))
		if err != nil {
			return err
		}
		if err := root.Link(src, target); err != nil {
			return fmt.Errorf("create hard link %s: %w", target, err)
		}
		return nil
	default:
		return nil // devices and FIFOs are not copied into containers
	}
	root.Lchown(target, hdr.Uid, hdr.Gid)
	root.Chmod(target, mode)
	if hdr.Typeflag != tar.TypeDir {
		root.Chtimes(target, time.Time{}, hdr.ModTime)
	}
	return nil
}
