package containerdexec

import (
	"fmt"
	"os"
	"path/filepath"
)

// SpoolFile returns a new empty file on the disk of the executor's root,
// not on a tmpfs that would hold it in memory, already unlinked: what it
// holds is gone once it is closed, or once the daemon dies. A docker cp
// into a container keeps its archive there between its check and its
// extraction.
func (e *Executor) SpoolFile() (*os.File, error) {
	dir := filepath.Join(e.cfg.Root, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the spool directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "spool-")
	if err != nil {
		return nil, fmt.Errorf("create a spool file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink the spool file: %w", err)
	}
	return f, nil
}
