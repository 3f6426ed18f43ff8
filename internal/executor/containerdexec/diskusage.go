package containerdexec

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
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

// VolumeDiskUsage lists the node's volumes (the local driver's, under
// Root/volumes) with their size on disk and how many containers mount
// them.
func (e *Executor) VolumeDiskUsage(ctx context.Context) ([]volume.Volume, error) {
	ctx = e.ns(ctx)
	root := filepath.Join(e.cfg.Root, "volumes")
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	entries, err := e.entries(ctx)
	if err != nil {
		return nil, err
	}
	refs := map[string]int64{}
	for _, en := range entries {
		for _, p := range en.rec.Mounts {
			if p.Type == mount.TypeVolume {
				refs[p.Name]++
			}
		}
	}
	var out []volume.Volume
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(root, d.Name())
		created := ""
		if info, err := d.Info(); err == nil {
			created = info.ModTime().UTC().Format(time.RFC3339)
		}
		out = append(out, volume.Volume{
			Name:       d.Name(),
			Driver:     "local",
			Mountpoint: filepath.Join(dir, "_data"),
			Scope:      "local",
			CreatedAt:  created,
			Labels:     map[string]string{},
			Options:    map[string]string{},
			UsageData:  &volume.UsageData{Size: dirSize(dir), RefCount: refs[d.Name()]},
		})
	}
	slices.SortFunc(out, func(a, b volume.Volume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
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
