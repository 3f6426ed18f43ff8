package engine

import (
	"context"
	"io"
	"os"

	"github.com/shoal-project/shoal/internal/archive"
)

// Export writes the tar of a container's root filesystem, as docker export
// (GET /containers/{id}/export): its snapshot, mounted read-only for the
// call, so the image's files and the container's changes without its
// volumes, binds or /proc, whether it runs or not. ready is called before
// the first byte, for the response's header, and gives where the tar goes.
func (c *Containers) Export(ctx context.Context, idOrName string, ready func() io.Writer) error {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	ids, err := c.idMap(ref.ID)
	if err != nil {
		return err
	}
	return c.exec.WithSnapshotRoot(ctx, ref.ID, func(root *os.Root) error {
		return archive.Export(root, ready(), ids)
	})
}
