package containerdexec

import (
	"context"
	"io/fs"
	"path/filepath"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/volume"

	"github.com/shoal-project/shoal/internal/filters"
)

// ContainerDiskUsage lists every container with SizeRw, the bytes its
// writable layer holds (the snapshotter's usage of its snapshot), as
// docker system df shows them.
func (e *Executor) ContainerDiskUsage(ctx context.Context) ([]container.Summary, error) {
	list, err := e.List(ctx, true, nil)
	if err != nil {
		return nil, err
	}
	sn := e.cfg.Client.SnapshotService(e.cfg.Snapshotter)
	ctx = e.ns(ctx)
	for i, c := range list {
		u, err := sn.Usage(ctx, c.ID)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		list[i].SizeRw = u.Size
	}
	return list, nil
}

// VolumeDiskUsage lists the node's volumes (the volume store's) with
// the bytes their data takes and how many containers reference them, as
// docker system df shows them.
func (e *Executor) VolumeDiskUsage(ctx context.Context) ([]volume.Volume, error) {
	list, err := e.cfg.Volumes.List(ctx, filters.Args{})
	if err != nil {
		return nil, err
	}
	for i, v := range list {
		list[i].UsageData = &volume.UsageData{Size: dirSize(v.Mountpoint), RefCount: int64(len(e.cfg.Volumes.References(v.Name)))}
	}
	return list, nil
}

// dirSize is the bytes the regular files under dir take, -1 when it
// cannot be read (Docker's "unknown").
func dirSize(dir string) int64 {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return -1
	}
	return total
}
