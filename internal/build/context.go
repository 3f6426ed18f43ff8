package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// IgnoreFile is the name of the context's ignore file.
const IgnoreFile = ".dockerignore"

// Ignore is what a .dockerignore leaves out of the context.
type Ignore struct {
	pm         *patternmatcher.PatternMatcher
	keepAlways map[string]bool
}

// ParseIgnore reads a .dockerignore; the Dockerfile and the .dockerignore
// itself are never left out, as the builder reads them before anything
// else (Docker does the same).
func ParseIgnore(r io.Reader, dockerfile string) (*Ignore, error) {
	patterns, err := ignorefile.ReadAll(r)
	if err != nil {
		return nil, errdefs.Invalid("%s: %v", IgnoreFile, err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, errdefs.Invalid("%s: %v", IgnoreFile, err)
	}
	return &Ignore{pm: pm, keepAlways: map[string]bool{IgnoreFile: true, dockerfile: true}}, nil
}

// Excluded reports whether the context path name (slash-separated,
// relative to the context root) is left out.
func (ig *Ignore) Excluded(name string) bool {
	if ig == nil || ig.keepAlways[name] {
		return false
	}
	ex, err := ig.pm.MatchesOrParentMatches(name)
	return err == nil && ex
}

// errContextTooLarge is the error of a context past the limit.
func errContextTooLarge(limit int64) error {
	return errdefs.Invalid("build context: larger than the limit of %d MiB once unpacked (limits.MaxBuildContext)", limit>>20)
}

// contextPath cleans a tar entry's name into a path inside the context,
// or reports that it points outside it.
func contextPath(name string) (string, bool) {
	clean := path.Clean("/" + name)
	if clean == "/" {
		return "", false
	}
	return strings.TrimPrefix(clean, "/"), true
}

// ExtractContext unpacks the build context tar r (plain or compressed)
// into dir, refusing more than limit bytes of file content, then removes
// what the context's .dockerignore leaves out. Every write goes through an
// os.Root of dir: a symlink the context holds (up -> /etc) followed by an
// entry below it (up/passwd) cannot write outside dir.
func ExtractContext(r io.Reader, dir, dockerfile string, limit int64) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	rd, err := compression.DecompressStream(r)
	if err != nil {
		return errdefs.Invalid("build context: not a tar archive: %v", err)
	}
	defer rd.Close()
	tr := tar.NewReader(rd)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errdefs.Invalid("build context: not a tar archive: %v", err)
		}
		rel, ok := contextPath(h.Name)
		if !ok {
			continue
		}
		if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
			return errdefs.Invalid("build context: %s: %v", h.Name, err)
		}
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(rel, 0o755); err != nil {
				return errdefs.Invalid("build context: %s: %v", h.Name, err)
			}
			if err := root.Chmod(rel, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			total += h.Size
			if total > limit {
				return errContextTooLarge(limit)
			}
			if err := writeFile(root, rel, tr, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			root.Remove(rel)
			if err := root.Symlink(h.Linkname, rel); err != nil {
				return err
			}
			continue // its time would be set on what it points to
		case tar.TypeLink:
			target, ok := contextPath(h.Linkname)
			if !ok {
				continue
			}
			root.Remove(rel)
			if err := root.Link(target, rel); err != nil {
				return errdefs.Invalid("build context: hard link %s: %v", h.Name, err)
			}
		default:
			continue
		}
		root.Chtimes(rel, h.ModTime, h.ModTime)
	}
	return applyIgnore(dir, dockerfile)
}

func writeFile(root *os.Root, name string, r io.Reader, mode fs.FileMode) error {
	root.Remove(name)
	f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return errdefs.Invalid("build context: %s: %v", name, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return errdefs.Invalid("build context: %v", err)
	}
	return f.Close()
}

// applyIgnore removes from dir what its .dockerignore leaves out. The
// docker CLI filters the context already; this covers clients that do not.
func applyIgnore(dir, dockerfile string) error {
	f, err := os.Open(filepath.Join(dir, IgnoreFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	ig, err := ParseIgnore(f, dockerfile)
	f.Close()
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if !ig.Excluded(filepath.ToSlash(rel)) {
			return nil
		}
		// An excluded directory may still hold files a "!" pattern keeps.
		if d.IsDir() && ig.pm.Exclusions() {
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("apply %s: %w", IgnoreFile, err)
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
}
