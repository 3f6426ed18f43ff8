package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	continuityfs "github.com/containerd/continuity/fs"
	"github.com/moby/sys/user"
)

// copySpec is what one COPY or ADD does.
type copySpec struct {
	srcRoot string   // the context directory, or a stage's or image's root mounted read-only
	srcs    []string // as written, relative to srcRoot
	dstRoot string   // the step's root filesystem, mounted
	dest    string   // absolute inside dstRoot; a trailing slash means a directory
	// owner is nil to keep the source's owner (a stage's files) or make
	// them root's (the context's, which belong to no user of the image).
	owner       *idPair
	keepOwner   bool
	mode        *fs.FileMode
	extract     bool // ADD: unpack local archives
	instruction string
}

type idPair struct{ uid, gid int }

// hasWildcard reports whether a COPY source is a pattern.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

// matchSources resolves the sources of a COPY in root: plain paths must
// exist, patterns must match something.
func matchSources(root string, srcs []string, instruction string) ([]string, error) {
	var out []string
	for _, src := range srcs {
		clean := path.Clean("/" + src)
		if hasWildcard(src) {
			m, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(clean)))
			if err != nil {
				return nil, &StepError{Msg: fmt.Sprintf("%s: bad pattern %q: %v", instruction, src, err), Code: 1}
			}
			if len(m) == 0 {
				return nil, &StepError{Msg: fmt.Sprintf("COPY failed: no source files were specified (%q matches nothing)", src), Code: 1}
			}
			// A match may be a symlink the context holds: it is followed
			// inside the context, never out of it (lnk -> /etc/shadow
			// would otherwise copy the host's file into the image).
			for _, hit := range m {
				rel, err := filepath.Rel(root, hit)
				if err != nil {
					return nil, err
				}
				p, err := continuityfs.RootPath(root, rel)
				if err != nil {
					return nil, err
				}
				out = append(out, p)
			}
			continue
		}
		p, err := continuityfs.RootPath(root, clean)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(p); err != nil {
			return nil, &StepError{Msg: fmt.Sprintf("COPY failed: file not found in build context or excluded by .dockerignore: stat %s: file does not exist", src), Code: 1}
		}
		out = append(out, p)
	}
	return out, nil
}

// copySources carries out a COPY or ADD into dstRoot.
func copySources(ctx context.Context, s copySpec) error {
	matches, err := matchSources(s.srcRoot, s.srcs, s.instruction)
	if err != nil {
		return err
	}
	destDir := strings.HasSuffix(s.dest, "/") || len(matches) > 1
	for _, src := range matches {
		info, err := os.Stat(src)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			if err := copyTree(s, src, s.dest); err != nil {
				return err
			}
		case s.extract && isArchive(src):
			if err := extractArchive(ctx, s, src); err != nil {
				return err
			}
		default:
			dst := s.dest
			if destDir || isDir(s.dstRoot, dst) {
				dst = path.Join(dst, filepath.Base(src))
			}
			if err := copyEntry(s, src, dst, info); err != nil {
				return err
			}
		}
	}
	return nil
}

func isDir(root, p string) bool {
	hp, err := continuityfs.RootPath(root, p)
	if err != nil {
		return false
	}
	info, err := os.Stat(hp)
	return err == nil && info.IsDir()
}

// copyTree copies the contents of the directory src to dest.
func copyTree(s copySpec, src, dest string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return copyEntry(s, p, path.Join(dest, filepath.ToSlash(rel)), info)
	})
}

// copyEntry copies one file, directory or symlink to dest, an absolute
// path in the image, resolved inside dstRoot so that a symlink in the
// image cannot send it out.
func copyEntry(s copySpec, src, dest string, info fs.FileInfo) error {
	parent, err := continuityfs.RootPath(s.dstRoot, path.Dir(dest))
	if err != nil {
		return err
	}
	if err := mkdirOwned(s, parent); err != nil {
		return err
	}
	dst := filepath.Join(parent, path.Base(dest))
	if dest == "/" {
		dst = s.dstRoot
	}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		os.RemoveAll(dst)
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
		return lchown(s, dst, info)
	case mode.IsRegular():
		if err := copyFile(src, dst); err != nil {
			return err
		}
	default:
		return nil
	}
	perm := mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if s.mode != nil {
		perm = *s.mode
	}
	if err := os.Chmod(dst, perm); err != nil {
		return err
	}
	if err := lchown(s, dst, info); err != nil {
		return err
	}
	return os.Chtimes(dst, info.ModTime(), info.ModTime())
}

// mkdirOwned makes the missing directories up to dir, owned as the copied
// files are, as Docker does for a COPY --chown destination.
func mkdirOwned(s copySpec, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirOwned(s, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if s.owner != nil {
		return os.Lchown(dir, s.owner.uid, s.owner.gid)
	}
	return nil
}

func lchown(s copySpec, dst string, info fs.FileInfo) error {
	switch {
	case s.owner != nil:
		return os.Lchown(dst, s.owner.uid, s.owner.gid)
	case s.keepOwner:
		uid, gid := fileOwner(info)
		return os.Lchown(dst, uid, gid)
	default:
		return os.Lchown(dst, 0, 0)
	}
}

func fileOwner(info fs.FileInfo) (uid, gid int) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	os.RemoveAll(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// isArchive reports whether ADD unpacks the file: a tar, plain or
// compressed, as Docker decides by reading it.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	rd, err := compression.DecompressStream(f)
	if err != nil {
		return false
	}
	defer rd.Close()
	_, err = tar.NewReader(rd).Next()
	return err == nil
}

func extractArchive(ctx context.Context, s copySpec, src string) error {
	dir, err := continuityfs.RootPath(s.dstRoot, s.dest)
	if err != nil {
		return err
	}
	if err := mkdirOwned(s, dir); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := compression.DecompressStream(f)
	if err != nil {
		return err
	}
	defer rd.Close()
	if _, err := archive.Apply(ctx, dir, rd); err != nil {
		return &StepError{Msg: fmt.Sprintf("%s: unpack %s: %v", s.instruction, filepath.Base(src), err), Code: 1}
	}
	return nil
}

// parseChown resolves --chown's "user[:group]", by name or number,
// against the image's /etc/passwd and /etc/group.
func parseChown(root, spec string) (*idPair, error) {
	if spec == "" {
		return nil, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	passwd, err := continuityfs.RootPath(root, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := continuityfs.RootPath(root, "/etc/group")
	if err != nil {
		return nil, err
	}
	uid, err := strconv.Atoi(u)
	if err != nil {
		users, err := user.ParsePasswdFileFilter(passwd, func(e user.User) bool { return e.Name == u })
		if err != nil || len(users) == 0 {
			return nil, fmt.Errorf("unable to find user %s: no matching entries in passwd file", u)
		}
		uid = users[0].Uid
	}
	// Docker's rule: a user without a group gets the group of the same
	// number, not the user's primary group.
	if !hasGroup {
		return &idPair{uid, uid}, nil
	}
	gid, err := strconv.Atoi(g)
	if err != nil {
		groups, err := user.ParseGroupFileFilter(group, func(e user.Group) bool { return e.Name == g })
		if err != nil || len(groups) == 0 {
			return nil, fmt.Errorf("unable to find group %s: no matching entries in group file", g)
		}
		gid = groups[0].Gid
	}
	return &idPair{uid, gid}, nil
}

// parseChmod reads --chmod's octal mode.
func parseChmod(spec string) (*fs.FileMode, error) {
	if spec == "" {
		return nil, nil
	}
	m, err := strconv.ParseUint(spec, 8, 32)
	if err != nil || m > 0o7777 {
		return nil, fmt.Errorf("invalid --chmod %q: an octal mode is expected", spec)
	}
	mode := fs.FileMode(m).Perm() | unixModeBits(uint32(m))
	return &mode, nil
}

func unixModeBits(m uint32) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}
