package containerdexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	cerrdefs "github.com/containerd/errdefs"
	mounttypes "github.com/moby/moby/api/types/mount"
	"github.com/opencontainers/image-spec/identity"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// acquireVolumes makes the volumes container id uses ready before it is
// created: each is created when missing, referenced by the container,
// mounted when it has a filesystem of its own, and filled from img at its
// target when empty, unless the mount says nocopy. A failure releases what
// was acquired and is the error of the volume that failed (the kernel's
// reason for a mount).
func (e *Executor) acquireVolumes(ctx context.Context, id string, img client.Image, uses []volumeUse) (err error) {
	defer func() {
		if err != nil {
			e.releaseVolumes(context.WithoutCancel(ctx), id, uses)
		}
	}()
	var fill []volumeUse
	for _, u := range uses {
		if _, err := e.cfg.Volumes.Acquire(ctx, u.name, id, u.opts); err != nil {
			return err
		}
		data, err := e.cfg.Volumes.Mount(ctx, u.name, id)
		if err != nil {
			return err
		}
		if err := checkSubpath(data, u.subpath); err != nil {
			return err
		}
		if u.copyImage {
			fill = append(fill, u)
		}
	}
	if len(fill) == 0 {
		return nil
	}
	return e.withImageView(ctx, id, img, func(root string) error {
		for _, u := range fill {
			if err := e.cfg.Volumes.Populate(ctx, u.name, filepath.Join(root, u.target)); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkSubpath checks that the directory subpath of a volume whose data
// directory is data exists and is inside it: what a container wrote into
// the volume (a symbolic link to /) must not make another container's
// mount reach the host.
func checkSubpath(data, subpath string) error {
	if subpath == "" {
		return nil
	}
	p := filepath.Join(data, subpath)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("cannot access path %s: %w", p, err)
	}
	if realData, err := filepath.EvalSymlinks(data); err != nil || !strings.HasPrefix(real, realData+string(filepath.Separator)) {
		return errdefs.Invalid("volume subpath %s leaves the volume (it resolves to %s)", subpath, real)
	}
	return nil
}

// withImageView calls fn with img's root filesystem mounted read-only at
// a temporary directory, made for container id.
func (e *Executor) withImageView(ctx context.Context, id string, img client.Image, fn func(root string) error) error {
	ctx, done, err := e.cfg.Client.WithLease(ctx)
	if err != nil {
		return fmt.Errorf("lease for the image view: %w", err)
	}
	defer done(context.WithoutCancel(ctx))
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("layers of image %s: %w", img.Name(), err)
	}
	sn := e.cfg.Client.SnapshotService(e.cfg.Snapshotter)
	key := "volume-copy-" + id
	// One left by a daemon that stopped half-way would be in the way.
	if err := sn.Remove(ctx, key); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove stale image view %s: %w", key, err)
	}
	mounts, err := sn.View(ctx, key, identity.ChainID(diffIDs).String())
	if err != nil {
		return fmt.Errorf("view of image %s: %w", img.Name(), err)
	}
	defer func() {
		if err := sn.Remove(context.WithoutCancel(ctx), key); err != nil {
			e.log.Warn("remove image view", "container.id", id, "err", err)
		}
	}()
	return mount.WithReadonlyTempMount(ctx, mounts, fn)
}

// mountVolumes mounts again the volumes of a container about to start
// that are not mounted anymore, as after a reboot since Prepare.
func (e *Executor) mountVolumes(ctx context.Context, id string, rec *record) error {
	for _, p := range rec.Mounts {
		if p.Type != mounttypes.TypeVolume {
			continue
		}
		if _, err := e.cfg.Volumes.Mount(ctx, p.Name, id); err != nil {
			return err
		}
	}
	return nil
}

// unmountVolumes says that container id, which has exited, no longer uses
// its volumes' filesystems; it still references them until removed.
func (e *Executor) unmountVolumes(ctx context.Context, id string) {
	rec, err := e.readRecord(id)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			e.log.Warn("cannot read container record to unmount its volumes", "container.id", id, "err", err)
		}
		return
	}
	for _, p := range rec.Mounts {
		if p.Type != mounttypes.TypeVolume {
			continue
		}
		if err := e.cfg.Volumes.Unmount(ctx, p.Name, id); err != nil {
			e.log.Warn("unmount volume of exited container", "container.id", id, "volume", p.Name, "err", err)
		}
	}
}

// releaseVolumes drops container id's references to the volumes uses,
// and removes its anonymous ones, which live and die with it as Docker's
// of swarm tasks do.
func (e *Executor) releaseVolumes(ctx context.Context, id string, uses []volumeUse) error {
	var errs []error
	for _, u := range uses {
		if err := e.cfg.Volumes.Release(ctx, u.name, id); err != nil {
			errs = append(errs, err)
			continue
		}
		if u.anonymous {
			errs = append(errs, e.cfg.Volumes.Remove(ctx, u.name, true))
		}
	}
	return errors.Join(errs...)
}

// recordedVolumes are the volumes a container's record says it uses.
func recordedVolumes(id string, rec *record) []volumeUse {
	var uses []volumeUse
	for _, p := range rec.Mounts {
		if p.Type == mounttypes.TypeVolume {
			uses = append(uses, volumeUse{name: p.Name, anonymous: p.Name == anonymousVolume(id, p.Destination)})
		}
	}
	return uses
}

// restoreVolumeReferences tells the volume store which volumes the
// containers under the executor's root use, as a restarted daemon must:
// references live in memory.
func (e *Executor) restoreVolumeReferences() error {
	entries, err := os.ReadDir(filepath.Join(e.cfg.Root, "containers"))
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, en := range entries {
		rec, err := e.readRecord(en.Name())
		if err != nil {
			continue // being created or removed
		}
		for _, u := range recordedVolumes(en.Name(), rec) {
			e.cfg.Volumes.Reference(u.name, en.Name())
		}
	}
	return nil
}
