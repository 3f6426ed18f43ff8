package containerdexec

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// WithSnapshotRoot calls fn with the container's root filesystem as its
// snapshot holds it, mounted read-only for the call: the image's layers
// and what the container changed, without its mounts (docker export),
// whether it runs or not.
func (e *Executor) WithSnapshotRoot(ctx context.Context, id string, fn func(root *os.Root) error) error {
	mounts, err := e.snapshotMounts(ctx, id)
	if err != nil {
		return err
	}
	return mount.WithReadonlyTempMount(ctx, mounts, func(dir string) error {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return fmt.Errorf("open the root filesystem of %s: %w", id, err)
		}
		defer root.Close()
		return fn(root)
	})
}

// Layers are the directories of a container's overlay snapshot: Upper
// holds what the container changed (an overlayfs upper directory, with
// its whiteouts), Lowers the image's layers, topmost first. Mountpoints
// are where the container's mounts go (/etc/hosts, /proc, binds, …): the
// runtime makes them in Upper, and they are not the container's changes.
type Layers struct {
	Upper       string
	Lowers      []string
	Mountpoints []string
}

// SnapshotLayers returns the directories of the container's snapshot,
// for docker diff.
func (e *Executor) SnapshotLayers(ctx context.Context, id string) (Layers, error) {
	mounts, err := e.snapshotMounts(ctx, id)
	if err != nil {
		return Layers{}, err
	}
	if len(mounts) != 1 {
		return Layers{}, notOverlay(id, fmt.Sprintf("%d mounts", len(mounts)))
	}
	var l Layers
	switch m := mounts[0]; m.Type {
	case "bind":
		// A snapshot without parents is its own directory.
		l.Upper = m.Source
	case "overlay":
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				l.Upper = v
			} else if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				l.Lowers = strings.Split(v, ":")
			}
		}
	}
	if l.Upper == "" {
		return Layers{}, notOverlay(id, "a "+mounts[0].Type+" mount")
	}
	ctr, err := e.cfg.Client.LoadContainer(e.ns(ctx), id)
	if err != nil {
		return Layers{}, errdefs.NotFound("No such container: %s", id)
	}
	spec, err := ctr.Spec(e.ns(ctx))
	if err != nil {
		return Layers{}, fmt.Errorf("spec of %s: %w", id, err)
	}
	for _, m := range spec.Mounts {
		l.Mountpoints = append(l.Mountpoints, m.Destination)
	}
	return l, nil
}

func (e *Executor) snapshotMounts(ctx context.Context, id string) ([]mount.Mount, error) {
	ctx = e.ns(ctx)
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return nil, errdefs.NotFound("No such container: %s", id)
	}
	info, err := ctr.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	mounts, err := e.cfg.Client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("mounts of the root filesystem of %s: %w", id, err)
	}
	return mounts, nil
}

func notOverlay(id, what string) error {
	return &errdefs.Error{Kind: errdefs.KindNotImplemented, Msg: fmt.Sprintf("docker diff needs an overlayfs snapshot: the root filesystem of %s is %s", id, what)}
}
