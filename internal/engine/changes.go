package engine

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	containertypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// Changes returns what the container changed in its root filesystem
// against its image's layers, as docker diff shows it (GET
// /containers/{id}/changes): from its snapshot's upper directory, as
// dockerd's overlay2 driver reads it.
func (c *Containers) Changes(ctx context.Context, idOrName string) ([]containertypes.FilesystemChange, error) {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	layers, err := c.exec.SnapshotLayers(ctx, ref.ID)
	if err != nil {
		return nil, err
	}
	entries, err := walkUpper(ctx, layers)
	if err != nil {
		return nil, err
	}
	return changesOf(entries, layers.Mountpoints), nil
}

// upperEntry is a path of a snapshot's upper directory, compared with the
// layers below it.
type upperEntry struct {
	Path string // from the container's root: "/etc/passwd"
	// Deleted: a whiteout (a character device 0/0), or a directory made
	// opaque (its lower contents hidden), which dockerd also shows as
	// deleted.
	Deleted bool
	IsDir   bool
	InLower bool // a lower layer has the path
	// For a directory a lower layer has: whether its mode or owner
	// (MetaChanged), or its size or mtime (Touched) differ from that
	// one's.
	MetaChanged, Touched bool
}

// changesOf makes docker diff's list from the upper directory's entries,
// in walk order (a directory before what is in it), as dockerd's overlay
// walk does: a path the lower layers lack is added (A), a whiteout is
// deleted (D), a path they have is changed (C) — a directory only when
// its mode, owner, size or mtime moved — and the parent of an added or
// deleted path is changed. Two things differ, both because the runtime
// makes a container's mountpoints (/etc/hostname, a bind's target, …) in
// its upper directory where dockerd makes them in a layer of its own: a
// mountpoint is no change, and a directory whose size or mtime alone
// moved is a change only when one is listed below it.
func changesOf(entries []upperEntry, mountpoints []string) []containertypes.FilesystemChange {
	skip := map[string]bool{}
	for _, m := range mountpoints {
		skip[path.Clean(m)] = true
	}
	kinds := map[string]containertypes.ChangeType{}
	listed := map[string]bool{}  // changes on their own, and parents of A and D
	touched := map[string]bool{} // directories listed if a change is below them
	for _, e := range entries {
		if skip[e.Path] {
			continue
		}
		switch {
		case e.Deleted:
			kinds[e.Path] = containertypes.ChangeDelete
		case !e.InLower:
			kinds[e.Path] = containertypes.ChangeAdd
		default:
			kinds[e.Path] = containertypes.ChangeModify
		}
		if kinds[e.Path] == containertypes.ChangeModify && e.IsDir && !e.MetaChanged {
			touched[e.Path] = e.Touched
			continue
		}
		listed[e.Path] = true
		if kinds[e.Path] != containertypes.ChangeModify {
			if parent := path.Dir(e.Path); parent != "/" {
				listed[parent] = true
			}
		}
	}
	for p := range listed {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if touched[d] {
				listed[d] = true
			}
		}
	}
	var out []containertypes.FilesystemChange
	for _, e := range entries {
		if listed[e.Path] {
			out = append(out, containertypes.FilesystemChange{Path: e.Path, Kind: kinds[e.Path]})
		}
	}
	return out
}

// walkUpper lists the upper directory of a snapshot, each path compared
// with the lower layers (read through an os.Root each, so that no link in
// an image's layer leads out of it).
func walkUpper(ctx context.Context, l containerdexec.Layers) ([]upperEntry, error) {
	var lowers []*os.Root
	defer func() {
		for _, r := range lowers {
			r.Close()
		}
	}()
	for _, dir := range l.Lowers {
		r, err := os.OpenRoot(dir)
		if err != nil {
			return nil, fmt.Errorf("open layer: %w", err)
		}
		lowers = append(lowers, r)
	}
	var entries []upperEntry
	err := filepath.WalkDir(l.Upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(l.Upper, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := upperEntry{Path: "/" + filepath.ToSlash(rel), IsDir: fi.IsDir()}
		e.Deleted = isWhiteout(fi) || (fi.IsDir() && isOpaque(p))
		for _, r := range lowers {
			lfi, err := r.Lstat(rel)
			if err != nil {
				continue
			}
			e.InLower = true
			if fi.IsDir() {
				e.MetaChanged = !lfi.IsDir() || fi.Mode() != lfi.Mode() || !sameOwner(fi, lfi)
				e.Touched = fi.Size() != lfi.Size() || !fi.ModTime().Equal(lfi.ModTime())
			}
			break
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the container's changes: %w", err)
	}
	return entries, nil
}

// isWhiteout reports an overlayfs whiteout: a character device 0/0.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// isOpaque reports an overlayfs opaque directory.
func isOpaque(dir string) bool {
	buf := make([]byte, 1)
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Lgetxattr(dir, attr, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

func sameOwner(a, b fs.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Uid == sb.Uid && sa.Gid == sb.Gid
}
