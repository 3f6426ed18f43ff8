package containerdexec

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/moby/moby/api/types/swarm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/template"
)

const (
	// secretsInContainer is where a secret with a relative target goes,
	// as in Docker.
	secretsInContainer = "/run/secrets"
	// defaultFileMode is the mode of a secret or config file whose
	// reference sets none: readable by all, as the docker CLI defaults it.
	defaultFileMode os.FileMode = 0o444
)

// containerFile is a secret or config as a file in a container.
type containerFile struct {
	name     string // the file's name in the container's secrets directory on the host
	target   string // the absolute path in the container
	uid, gid int
	mode     os.FileMode
	data     []byte
}

// resolveFiles decides the files of cs's secrets and configs, with their
// data from deps (which may be nil); the data of a templated one is
// rendered for the task whose template context tc is. A secret or config
// deps lacks is an errdefs.NotFound error: the node was not sent it, and
// the task cannot run here. Config references with a runtime target are
// not files and are skipped, as Docker does.
func resolveFiles(cs *swarm.ContainerSpec, deps executor.Dependencies, tc template.Context) ([]containerFile, error) {
	var files []containerFile
	for i, ref := range cs.Secrets {
		if ref == nil {
			continue
		}
		name := cmp.Or(ref.SecretName, ref.SecretID)
		var s *swarm.Secret
		ok := false
		if deps != nil {
			s, ok = deps.Secret(ref.SecretID)
		}
		if !ok {
			return nil, errdefs.NotFound("secret %s not found on this node", name)
		}
		var target, uid, gid string
		var mode os.FileMode
		if f := ref.File; f != nil {
			target, uid, gid, mode = f.Name, f.UID, f.GID, f.Mode
		}
		f, err := newContainerFile("secret "+name, fmt.Sprintf("secret-%d", i), secretsInContainer, cmp.Or(target, ref.SecretName), uid, gid, mode)
		if err != nil {
			return nil, err
		}
		if f.data, err = render("secret "+name, s.Spec.Templating, s.Spec.Data, tc, cs, deps); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	for i, ref := range cs.Configs {
		if ref == nil || ref.File == nil {
			continue
		}
		name := cmp.Or(ref.ConfigName, ref.ConfigID)
		var c *swarm.Config
		ok := false
		if deps != nil {
			c, ok = deps.Config(ref.ConfigID)
		}
		if !ok {
			return nil, errdefs.NotFound("config %s not found on this node", name)
		}
		ft := ref.File
		f, err := newContainerFile("config "+name, fmt.Sprintf("config-%d", i), "/", cmp.Or(ft.Name, ref.ConfigName), ft.UID, ft.GID, ft.Mode)
		if err != nil {
			return nil, err
		}
		if f.data, err = render("config "+name, c.Spec.Templating, c.Spec.Data, tc, cs, deps); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// render returns the data of what (a secret or config) as the task sees
// it: data itself, or, when templating says it is a template, rendered in
// the task's context. A template that fails is an errdefs.Invalid error:
// the task cannot run with it, here or anywhere.
func render(what string, templating *swarm.Driver, data []byte, tc template.Context, cs *swarm.ContainerSpec, deps executor.Dependencies) ([]byte, error) {
	templated, err := template.Templated(templating)
	if err != nil {
		return nil, errdefs.Invalid("%s: %v", what, err)
	}
	if !templated {
		return data, nil
	}
	var d template.Dependencies
	if deps != nil {
		d = deps
	}
	out, err := template.ExpandPayload(what, data, tc, cs, d)
	if err != nil {
		return nil, errdefs.Invalid("expand templated %s: %v", what, err)
	}
	return out, nil
}

// newContainerFile checks and completes what a reference says of its
// file: a relative target is under base, owner and group default to root,
// the mode to defaultFileMode. what names the secret or config in errors.
func newContainerFile(what, name, base, target, uid, gid string, mode os.FileMode) (containerFile, error) {
	if target == "" {
		return containerFile{}, errdefs.Invalid("%s has no target file name", what)
	}
	if !path.IsAbs(target) {
		target = path.Join(base, target)
	}
	u, err := strconv.ParseUint(cmp.Or(uid, "0"), 10, 32)
	if err != nil {
		return containerFile{}, errdefs.Invalid("%s: invalid uid %q: a number is needed", what, uid)
	}
	g, err := strconv.ParseUint(cmp.Or(gid, "0"), 10, 32)
	if err != nil {
		return containerFile{}, errdefs.Invalid("%s: invalid gid %q: a number is needed", what, gid)
	}
	if mode.Perm() == 0 {
		mode = defaultFileMode
	}
	return containerFile{name: name, target: path.Clean(target), uid: int(u), gid: int(g), mode: mode.Perm()}, nil
}

// fileMounts returns the read-only bind mounts of files, kept in dir on
// the host, into the container. They say the flags of the tmpfs they
// come from (tmpfsFlags): in a remapped user namespace the kernel locks
// those, and refuses the runtime's read-only remount unless it keeps
// them.
func fileMounts(dir string, files []containerFile) []specs.Mount {
	out := make([]specs.Mount, 0, len(files))
	for _, f := range files {
		out = append(out, specs.Mount{
			Destination: f.target,
			Type:        "bind",
			Source:      filepath.Join(dir, f.name),
			Options:     []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"},
		})
	}
	return out
}

// filesDir is the host directory of container id's secrets and configs:
// under ExecRoot, and a tmpfs of its own, so that they never reach a disk
// and are gone after a reboot.
func (e *Executor) filesDir(id string) string {
	return filepath.Join(e.cfg.ExecRoot, "secrets", id)
}

// tmpfsFlags are the mount flags of a secrets directory: nothing in it is a
// device or a program.
const tmpfsFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// mountFiles makes dir a tmpfs holding files, owned and with the modes
// they ask, then makes it read-only, as Docker does with its containers'
// secrets. Under a remapping (remap not nil) the tmpfs is the remapped
// root's and the files' owners are the host IDs of those they ask.
func mountFiles(dir string, files []containerFile, remap *confine.Remap) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create secrets directory: %w", err)
	}
	data := "mode=0700"
	if remap != nil {
		uid, gid := remap.Root()
		data += fmt.Sprintf(",uid=%d,gid=%d", uid, gid)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", tmpfsFlags, data); err != nil {
		return fmt.Errorf("mount tmpfs for secrets at %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, unmountFiles(dir))
		}
	}()
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", f.target, err)
		}
		uid, gid := f.uid, f.gid
		if remap != nil {
			if uid, gid, err = remap.ToHost(uid, gid); err != nil {
				return fmt.Errorf("owner of %s: %w", f.target, err)
			}
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("set owner of %s: %w", f.target, err)
		}
		// After the chown, which may clear mode bits.
		if err := os.Chmod(p, f.mode); err != nil {
			return fmt.Errorf("set mode of %s: %w", f.target, err)
		}
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT|unix.MS_RDONLY|tmpfsFlags, "mode=0700"); err != nil {
		return fmt.Errorf("make secrets at %s read-only: %w", dir, err)
	}
	return nil
}

// unmountFiles unmounts the tmpfs at dir, every one of them should two
// Prepares of the same container have raced, and removes dir. Nothing
// mounted is not an error.
func unmountFiles(dir string) error {
	for {
		err := unix.Unmount(dir, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("unmount secrets at %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove secrets directory: %w", err)
	}
	return nil
}

// isMountPoint reports whether dir exists and something is mounted on it.
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); errors.Is(err, unix.ENOENT) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Dir(dir), err)
	}
	return st.Dev != parent.Dev, nil
}

// ensureFiles mounts the container's secrets and configs again when they
// are gone, as after a reboot between Prepare and Start; those of a
// container whose process runs stay mounted across restarts of the daemon
// and need nothing.
func (c *controller) ensureFiles() error {
	cs := c.task.Spec.ContainerSpec
	if len(cs.Secrets)+len(cs.Configs) == 0 {
		return nil
	}
	dir := c.e.filesDir(c.id)
	if mounted, err := isMountPoint(dir); err != nil || mounted {
		return err
	}
	files, err := resolveFiles(cs, c.deps, c.tmpl)
	if err != nil || len(files) == 0 {
		return err
	}
	// A service has no way to ask for the host's user namespace.
	return mountFiles(dir, files, c.e.cfg.Remap)
}
