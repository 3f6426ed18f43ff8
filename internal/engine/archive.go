package engine

import (
	"context"
	"io"
	"os"

	containertypes "github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/archive"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// StatPath returns what docker cp's header says of a path in a
// container, plain or a task's.
func (c *Containers) StatPath(ctx context.Context, idOrName, path string) (containertypes.PathStat, error) {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return containertypes.PathStat{}, err
	}
	var st containertypes.PathStat
	err = c.exec.WithRootFS(ctx, ref.ID, func(root *os.Root) error {
		st, err = archive.Stat(root, path)
		return err
	})
	return st, err
}

// CopyFrom writes a tar of a path in a container, as docker cp from a
// container: ready is given the path's stat (docker's header) and gives
// where the tar goes.
func (c *Containers) CopyFrom(ctx context.Context, idOrName, path string, ready func(containertypes.PathStat) (io.Writer, error)) error {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	ids, err := c.idMap(ref.ID)
	if err != nil {
		return err
	}
	return c.exec.WithRootFS(ctx, ref.ID, func(root *os.Root) error {
		st, err := archive.Stat(root, path)
		if err != nil {
			return err
		}
		w, err := ready(st)
		if err != nil || w == nil {
			return err
		}
		return archive.Tar(root, path, w, ids)
	})
}

// CopyTo extracts a tar into a directory of a container, as docker cp to
// a container; a read-only root filesystem refuses it. The tar is spooled
// to the node's disk and checked whole first (archive.Extract): a bad one
// is refused with nothing written.
func (c *Containers) CopyTo(ctx context.Context, idOrName, path string, r io.Reader, noOverwriteDirNonDir bool) error {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	insp, err := c.exec.Inspect(ctx, ref.ID)
	if err != nil {
		return err
	}
	if insp.HostConfig != nil && insp.HostConfig.ReadonlyRootfs {
		return errdefs.Forbidden("container rootfs is marked read-only")
	}
	ids, err := c.idMap(ref.ID)
	if err != nil {
		return err
	}
	spool, err := c.exec.SpoolFile()
	if err != nil {
		return err
	}
	defer spool.Close()
	return c.exec.WithRootFS(ctx, ref.ID, func(root *os.Root) error {
		return archive.Extract(root, path, r, spool, noOverwriteDirNonDir, ids)
	})
}

// idMap is how container id's owners translate between its user namespace
// and the host's; nil when they are the same.
func (c *Containers) idMap(id string) (archive.IDMap, error) {
	r, err := c.exec.IDMapOf(id)
	if r == nil || err != nil {
		return nil, err
	}
	return r, nil
}
