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
	"github.com/shoal-project/shoal/internal/atomicfile"
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
	if err := atomicfile.Write(path, []byte(id), 0o600); err != nil {
		return "", fmt.Errorf("save engine ID: %w", err)
	}
	return id, nil
}
