// Package archive copies files in and out of a container's root
// filesystem as docker cp does (GET, HEAD and PUT
// /containers/{id}/archive): the stat of a path, a tar of a path named as
// dockerd names its entries, and the extraction of a tar into a
// directory (all or nothing for an archive that cannot be extracted:
// extract.go); and the tar of the whole of it, as docker export. Every
// access goes through an os.Root, so that no path or symlink in the
// container leads outside its root filesystem. In a
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
func locate(t tree, p string, followLast bool) (string, error) {
	name := rel(p)
	if followLast || name == "." {
		r, err := resolve(t, name)
		return rel(r.path), err
	}
	dir, err := resolve(t, path.Dir(name))
	if err != nil {
		return "", err
	}
	return rel(path.Join(dir.path, path.Base(name))), nil
}

// Stat returns what docker cp's header says of the path p in root: the
// path itself, not what a final symlink points to (which LinkTarget gives,
// fully resolved in root), unless p ends with "/".
func Stat(root *os.Root, p string) (container.PathStat, error) {
	name, err := locate(rootTree{root}, p, strings.HasSuffix(p, "/"))
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
	r, err := resolve(rootTree{root}, name)
	return r.path, err
}

// Tar writes to w the tar of the path p in root as dockerd does: one
// entry for a file (or a symlink, not followed, unless p ends with "/"),
// a directory and all below it, each entry named from p's last element
// ("dir/a", or "./a" for "dir/."), so that the docker CLI can rename the
// copy. Owners are the container's (ids).
func Tar(root *os.Root, p string, w io.Writer, ids IDMap) error {
	// A trailing slash follows a final symlink.
	name, err := locate(rootTree{root}, p, strings.HasSuffix(p, "/"))
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
