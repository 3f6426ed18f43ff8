package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/containerd/continuity/fs"
)

// Populate copies the tree at src (what a container's image has where the
// volume is mounted) into volume name when the volume is empty, as Docker
// fills a volume from the image on first use: files, their modes,
// owners, times and extended attributes, and those of src itself. A
// volume with content, or a src that does not exist, is left as it is.
// The volume must be mounted (Mount) when it has a filesystem of its own.
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
