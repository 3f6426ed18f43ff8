package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/layerdiff"
)

// runLayer makes the layer of a RUN step. Under the daemon's remapping
// (Config.Remap) the step runs in a remapped user namespace, as dockerd's
// builder runs it: on a copy of the stage's root filesystem owned by the
// host IDs the mapping gives (the stage's own snapshot keeps the image's
// owners), and the layer records what it changed with the owners the
// container sees, then is applied to the stage's snapshot. A file the
// step's root makes is owned by 0 in the image, remapped or not.
func (r *run) runLayer(ctx context.Context, st *stageState, argv []string) error {
	remap := r.b.cfg.Remap
	if remap == nil {
		return r.layer(ctx, st, func(ctx context.Context, active string, _ []mount.Mount) error {
			return r.runStep(ctx, st, active, argv)
		})
	}
	return r.addLayer(ctx, st, func(ctx context.Context, _ string, mounts []mount.Mount) (ocispec.Descriptor, error) {
		base, err := r.remappedCopy(ctx, st.chainID(), argv)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		defer r.sn.Remove(context.WithoutCancel(ctx), base)
		remapped := "shoal-build-" + identity.NewID()
		if _, err := r.sn.Prepare(ctx, remapped, base); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("prepare snapshot: %w", err)
		}
		defer r.sn.Remove(context.WithoutCancel(ctx), remapped)
		if err := r.runStep(ctx, st, remapped, argv); err != nil {
			return ocispec.Descriptor{}, err
		}
		desc, _, err := layerdiff.Write(ctx, r.sn, r.b.cfg.Client.ContentStore(), remapped, remap, ocispec.MediaTypeImageLayer)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("diff the step's changes: %w", err)
		}
		if _, err := r.b.cfg.Client.DiffService().Apply(ctx, desc, mounts); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("apply the step's changes: %w", err)
		}
		return desc, nil
	})
}

// remappedCopy commits a copy of the snapshot chain whose files are owned
// by the host IDs of the daemon's remapping, and returns its name; the
// caller removes it.
func (r *run) remappedCopy(ctx context.Context, chain string, argv []string) (string, error) {
	key := "shoal-build-remapped-" + identity.NewID()
	mounts, err := r.sn.Prepare(ctx, key+"-chown", chain)
	if err != nil {
		return "", fmt.Errorf("prepare snapshot: %w", err)
	}
	err = withMounted(r.b.cfg.Root, mounts, func(root string) error { return remapTree(root, r.b.cfg.Remap) })
	if err == nil {
		err = r.sn.Commit(ctx, key, key+"-chown")
	}
	if err != nil {
		r.sn.Remove(context.WithoutCancel(ctx), key+"-chown")
		if oe := (*stepOwnerError)(nil); errors.As(err, &oe) {
			return "", &StepError{Msg: fmt.Sprintf("The command '%s' could not be run: %v", strings.Join(argv, " "), err), Code: 1}
		}
		return "", fmt.Errorf("remap the root filesystem: %w", err)
	}
	return key, nil
}

// stepOwnerError is a file of the stage that the remapping gives no host
// owner: the step cannot run on it, as dockerd cannot unpack such an
// image under remapping.
type stepOwnerError struct {
	name string
	err  error
}

func (e *stepOwnerError) Error() string { return fmt.Sprintf("/%s: %v", e.name, e.err) }

// remapTree gives every file below root the host IDs of its owner under
// remap, as containerd does to a remapped container's copy of its image,
// keeping the setuid, setgid and sticky bits a chown clears. A file with
// several names is given them once: at its next name it is already the
// host's.
func remapTree(root string, remap *confine.Remap) error {
	type inode struct{ dev, ino uint64 }
	done := map[inode]bool{} // files with several names
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if !d.IsDir() && st.Nlink > 1 {
			if done[inode{st.Dev, st.Ino}] {
				return nil
			}
			done[inode{st.Dev, st.Ino}] = true
		}
		uid, gid, err := remap.ToHost(int(st.Uid), int(st.Gid))
		if err != nil {
			name, _ := filepath.Rel(root, p)
			return &stepOwnerError{name: name, err: err}
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		if m := info.Mode(); m&fs.ModeSymlink == 0 && m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			return os.Chmod(p, m)
		}
		return nil
	})
}
