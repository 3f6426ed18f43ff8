// Package archive copies files in and out of a container's root
// filesystem as docker cp does (GET, HEAD and PUT
// /containers/{id}/archive): the stat of a path, a tar of a path named as
// dockerd names its entries, and the extraction of a tar into a
// directory; and the tar of the whole of it, as docker export. Every access goes through an os.Root, so that no path or
// symlink in the container leads outside its root filesystem. In a
// container whose user namespace is remapped, owners are written as the
// container sees them and extracted as the host stores them (IDMap).
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// IDMap translates the owners of files between a container's user
// namespace and the host's (confine.Remap); nil where they are the same.
type IDMap interface {
	ToHost(uid, gid int) (int, int, error)
	ToContainer(uid, gid int) (int, int)
}

// maxSymlinks bounds the symlinks followed in resolving one path, as the
// kernel's ELOOP limit does.
const maxSymlinks = 40

// rel turns a path in the container into a name in its root ("." for /).
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// locate returns the name in root of the path p of the container, its
// symlinks resolved as the container sees them (an absolute one from the
// container's root): every one but a final one, which only followLast
// follows. os.Root then meets no symlink on the way, and would refuse
// one that a change meanwhile made lead out of root.
func locate(root *os.Root, p string, followLast bool) (string, error) {
	name := rel(p)
	if followLast || name == "." {
		resolved, err := Resolve(root, name)
		return rel(resolved), err
	}
	dir, err := Resolve(root, path.Dir(name))
	if err != nil {
		return "", err
	}
	return rel(path.Join(dir, path.Base(name))), nil
}

// Stat returns what docker cp's header says of the path p in root: the
// path itself, not what a final symlink points to (which LinkTarget gives,
// fully resolved in root), unless p ends with "/".
func Stat(root *os.Root, p string) (container.PathStat, error) {
	name, err := locate(root, p, strings.HasSuffix(p, "/"))
	if err != nil {
		return container.PathStat{}, err
	}
	fi, err := root.Lstat(name)
	if err != nil {
		return container.PathStat{}, notFound(p, err)
	}
	st := container.PathStat{Name: path.Base("/" + p), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := Resolve(root, name)
		if err != nil {
			return container.PathStat{}, err
		}
		st.LinkTarget = target
	}
	return st, nil
}

func notFound(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.NotFound("Could not find the file %s in container", p)
	}
	return errdefs.Invalid("%s: %v", p, err)
}

// Resolve returns the path name resolves to in root, every symlink
// followed within root, as an absolute path of the container.
func Resolve(root *os.Root, name string) (string, error) {
	rest := strings.Split(rel(name), "/")
	var done []string
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".", "":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := path.Join(append(done, c)...)
		fi, err := root.Lstat(cur)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if hops++; hops > maxSymlinks {
			return "", errdefs.Invalid("%s: too many levels of symbolic links", name)
		}
		target, err := root.Readlink(cur)
		if err != nil {
			return "", errdefs.Invalid("%s: %v", cur, err)
		}
		if path.IsAbs(target) {
			done = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return "/" + path.Join(done...), nil
}

// Tar writes to w the tar of the path p in root as dockerd does: one
// entry for a file (or a symlink, not followed, unless p ends with "/"),
// a directory and all below it, each entry named from p's last element
// ("dir/a", or "./a" for "dir/."), so that the docker CLI can rename the
// copy. Owners are the container's (ids).
func Tar(root *os.Root, p string, w io.Writer, ids IDMap) error {
	// A trailing slash follows a final symlink.
	name, err := locate(root, p, strings.HasSuffix(p, "/"))
	if err != nil {
		return err
	}
	base := path.Base("/" + p)
	if strings.HasSuffix(p, "/.") || p == "." {
		base = "."
	}
	if base == "/" {
		base = "."
	}
	tw := tar.NewWriter(w)
	if err := addEntry(root, tw, ids, name, base); err != nil {
		return err
	}
	return tw.Close()
}

// Export writes to w the tar of all of root, as docker export does: an
// entry for everything below root, named from it ("bin/", "bin/sh"),
// without one for root itself. Owners are the container's (ids).
func Export(root *os.Root, w io.Writer, ids IDMap) error {
	dir, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("open the root filesystem: %w", err)
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return fmt.Errorf("read the root filesystem: %w", err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	tw := tar.NewWriter(w)
	for _, en := range entries {
		if err := addEntry(root, tw, ids, en.Name(), en.Name()); err != nil {
			return err
		}
	}
	return tw.Close()
}

// addEntry writes the entry of name (in root) as tarName, and below it
// those of a directory's contents, owned as the container sees it (ids).
func addEntry(root *os.Root, tw *tar.Writer, ids IDMap, name, tarName string) error {
	fi, err := root.Lstat(name)
	if err != nil {
		return notFound("/"+name, err)
	}
	var link string
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = root.Readlink(name); err != nil {
			return fmt.Errorf("read link %s: %w", name, err)
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("tar header of %s: %w", name, err)
	}
	hdr.Name = tarName
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	if ids != nil {
		hdr.Uid, hdr.Gid = ids.ToContainer(hdr.Uid, hdr.Gid)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := root.Open(name)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		_, err = io.Copy(tw, io.LimitReader(f, fi.Size()))
		f.Close()
		return err
	case fi.IsDir():
		dir, err := root.Open(name)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		entries, err := dir.ReadDir(-1)
		dir.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		for _, en := range entries {
			if err := addEntry(root, tw, ids, path.Join(name, en.Name()), tarName+"/"+en.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Extract writes the entries of the tar r under the directory dir of
// root, as dockerd extracts a docker cp into a container: owners, modes
// and times kept (owners as the host stores the container's, ids); with
// noOverwriteDirNonDir, a directory is never replaced by something else
// nor the other way round. An owner the container cannot have is refused.
func Extract(root *os.Root, dir string, r io.Reader, noOverwriteDirNonDir bool, ids IDMap) error {
	d, err := locate(root, dir, true)
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
	tr := tar.NewReader(r)
	var dirTimes []*tar.Header // set last: writing into a directory changes its time
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errdefs.Invalid("read the archive: %v", err)
		}
		name := path.Clean(hdr.Name)
		if name == "." || name == "/" {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return errdefs.Invalid("archive entry %q is outside the extraction point", hdr.Name)
		}
		// An entry below a symlink an earlier one made goes where the
		// symlink leads in the container.
		target, err := locate(root, path.Join(d, name), false)
		if err != nil {
			return err
		}
		if ids != nil {
			if hdr.Uid, hdr.Gid, err = ids.ToHost(hdr.Uid, hdr.Gid); err != nil {
				return errdefs.Invalid("archive entry %q: %v", hdr.Name, err)
			}
		}
		if err := extractEntry(root, tr, hdr, target, d, noOverwriteDirNonDir); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			h.Name = target
			dirTimes = append(dirTimes, &h)
		}
	}
	for _, h := range dirTimes {
		root.Chtimes(h.Name, h.AccessTime, h.ModTime)
	}
	return nil
}

func extractEntry(root *os.Root, tr *tar.Reader, hdr *tar.Header, target, dir string, noOverwriteDirNonDir bool) error {
	if old, err := root.Lstat(target); err == nil {
		isDir := hdr.Typeflag == tar.TypeDir
		if noOverwriteDirNonDir && old.IsDir() != isDir {
			if old.IsDir() {
				return errdefs.Invalid("cannot overwrite directory %q with non-directory %q", "/"+target, hdr.Name)
			}
			return errdefs.Invalid("cannot overwrite non-directory %q with directory %q", "/"+target, hdr.Name)
		}
		if !(old.IsDir() && isDir) {
			if err := root.RemoveAll(target); err != nil {
				return fmt.Errorf("replace %s: %w", target, err)
			}
		}
	}
	if err := root.MkdirAll(path.Dir(target), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(target), err)
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
		src := path.Clean(hdr.Linkname)
		if path.IsAbs(src) || src == ".." || strings.HasPrefix(src, "../") {
			return errdefs.Invalid("archive entry %q links outside the extraction point", hdr.Name)
		}
		if err := root.Link(path.Join(dir, src), target); err != nil {
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
