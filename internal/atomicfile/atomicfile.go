// Package atomicfile replaces a file's contents whole or not at all, and
// durably: after a crash a reader finds the old contents or the new, never
// an empty or half-written file.
//
// It is google/renameio with two choices made for every caller: the
// temporary file lives beside its destination (renameio would otherwise
// probe os.TempDir on each write, and put key material there when it
// shares the filesystem), and the directory is synced after the rename,
// without which the rename itself can be lost.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write replaces path with data, with permissions perm whatever the umask
// or the old file's.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// File is a replacement for a file, written in pieces, that takes the
// file's place at Commit.
type File struct {
	*renameio.PendingFile
	path string
}

// Create starts a replacement for path. Call Cleanup when done with it:
// after a Commit it does nothing, before one it throws the replacement
// away.
func Create(path string, perm os.FileMode) (*File, error) {
	pf, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(perm))
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{PendingFile: pf, path: path}, nil
}

// Commit syncs the replacement, renames it over the file and syncs the
// directory.
func (f *File) Commit() error {
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("replace %s: %w", f.path, err)
	}
	dir := filepath.Dir(f.path)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
