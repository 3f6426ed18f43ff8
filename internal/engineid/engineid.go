// Package engineid gives a daemon its engine ID, the ID `docker info`
// shows: a random UUID made on the first start and kept in the data root,
// as dockerd does since 23.0, so that it survives restarts and two
// daemons on one host never share one.
package engineid

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// FileName is the file under the data root that holds the ID, dockerd's
// name for it.
const FileName = "engine-id"

// LoadOrCreate returns the ID kept in dataRoot, making and keeping a new
// one when there is none. An empty file, which only a hand could leave,
// counts as none.
func LoadOrCreate(dataRoot string) (string, error) {
	path := filepath.Join(dataRoot, FileName)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read engine ID: %w", err)
	}
	if id := strings.TrimSpace(string(b)); id != "" {
		return id, nil
	}
	id := uuid.NewString()
	if err := writeFileAtomic(path, []byte(id)); err != nil {
		return "", fmt.Errorf("save engine ID: %w", err)
	}
	return id, nil
}

// writeFileAtomic replaces path with data in one rename, so that a crash
// leaves the old file or the new one and never half of either.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
