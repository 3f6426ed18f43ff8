package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/continuity/fs"
)

// Populate copies the tree at src (what a container's image has where the
// volume is mounted) into volume name when the volume is empty, as Docker
// fills a volume from the image on first use: files, their modes,
// owners, times and extended attributes, and those of src itself. A
// volume with content, or a src that does not exist, is left as it is.
// Under an IDMap the copies are owned by the host IDs of the originals'
// owners. The volume must be mounted (Mount) when it has a filesystem of
// its own.
func (s *Store) Populate(ctx context.Context, name, src string) error {
	v, unlock, err := s.lookup(name)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := os.Stat(src)
	if errors.Is(err, os.ErrNotExist) || err == nil && !st.IsDir() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy image content into volume %s: %w", name, err)
	}
	dst := s.dataPath(v.name)
	if empty, err := isEmpty(dst); err != nil || !empty {
		return err
	}
	if err := fs.CopyDir(dst, src); err != nil {
		return fmt.Errorf("copy image content into volume %s: %w", name, err)
	}
	if s.idMap == nil {
		return nil
	}
	err = filepath.WalkDir(dst, func(p string, _ iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if err := s.chown(p, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		// A chown clears the set-user-ID and set-group-ID bits.
		if info.Mode()&os.ModeSymlink == 0 && info.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
			return os.Chmod(p, info.Mode())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("give the copy of the image content in volume %s to the remapped IDs: %w", name, err)
	}
	return nil
}

// isEmpty reports whether the directory dir holds nothing.
func isEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}
