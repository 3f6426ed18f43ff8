package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// mounter mounts a volume's filesystem on its data directory.
type mounter interface {
	// mount mounts device, of filesystem fstype, at target with the
	// comma-separated options o ("bind", "ro", "size=64m", "addr=…").
	mount(device, fstype, o, target string) error
	// mounted reports whether something is mounted at target.
	mounted(target string) (bool, error)
	// unmount unmounts what is mounted at target; nothing mounted there
	// is no error.
	unmount(target string) error
}

// kernelMounter mounts with the kernel, as Docker's local driver does.
type kernelMounter struct{}

func (kernelMounter) mount(device, fstype, o, target string) error {
	var opts []string
	if o != "" {
		opts = strings.Split(o, ",")
	}
	m := mount.Mount{Type: fstype, Source: device, Options: opts}
	return m.Mount(target)
}

func (kernelMounter) mounted(target string) (bool, error) {
	on, err := mountinfo.Mounted(target)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return on, err
}

// unmount unmounts every filesystem stacked at target.
func (k kernelMounter) unmount(target string) error {
	for {
		on, err := k.mounted(target)
		if err != nil || !on {
			return err
		}
		if err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// mountData returns the mount options o of a filesystem of type fstype as
// the kernel needs them: the kernel's NFS and CIFS clients take the
// server's address, not its name, so a name in addr= is resolved, as
// Docker's local driver does.
func mountData(fstype, o string, resolve func(network, host string) (*net.IPAddr, error)) (string, error) {
	if fstype != "nfs" && fstype != "nfs4" && fstype != "cifs" {
		return o, nil
	}
	opts := strings.Split(o, ",")
	for i, opt := range opts {
		host, ok := strings.CutPrefix(opt, "addr=")
		if !ok || net.ParseIP(host) != nil {
			continue
		}
		ip, err := resolve("ip", host)
		if err != nil {
			return "", fmt.Errorf("error resolving passed in network volume address: %w", err)
		}
		opts[i] = "addr=" + ip.String()
	}
	return strings.Join(opts, ","), nil
}

// Acquire returns the data directory of volume name for container ref,
// which from now on references it (so that it is not removed); a volume
// that does not exist is created with opts first, as Docker creates the
// volumes of a task's mounts. Release drops the reference.
func (s *Store) Acquire(ctx context.Context, name, ref string, opts CreateOptions) (string, error) {
	v, err := s.create(name, opts)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.gone {
		return "", noSuchVolume(name)
	}
	v.refs[ref] = true
	return s.dataPath(name), nil
}

// Reference records that container ref references the volume name, when
// it exists: what a restarted daemon learns again from its containers.
func (s *Store) Reference(name, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		v.refs[ref] = true
	}
}

// lookup returns the volume name, locked, and its unlock.
func (s *Store) lookup(name string) (*vol, func(), error) {
	s.mu.Lock()
	v, ok := s.vols[name]
	s.mu.Unlock()
	if !ok {
		return nil, nil, noSuchVolume(name)
	}
	v.mu.Lock()
	s.mu.Lock()
	gone := v.gone
	s.mu.Unlock()
	if gone {
		v.mu.Unlock()
		return nil, nil, noSuchVolume(name)
	}
	return v, v.mu.Unlock, nil
}

// Mount makes volume name ready for container ref to use and returns its
// data directory: a volume with a filesystem of its own has it mounted
// there, when ref is the first to need it (or when it is not mounted
// anymore, as after a reboot). A mount that fails is an error with the
// kernel's reason, and leaves ref not mounted.
func (s *Store) Mount(ctx context.Context, name, ref string) (string, error) {
	v, unlock, err := s.lookup(name)
	if err != nil {
		return "", err
	}
	defer unlock()
	s.mu.Lock()
	m := v.meta
	s.mu.Unlock()
	path := s.dataPath(name)
	if !needsMount(m.Options) {
		return path, nil
	}
	on, err := s.mount.mounted(path)
	if err != nil {
		return "", fmt.Errorf("volume %s: %w", name, err)
	}
	if !on {
		o := m.Options
		data, err := mountData(o["type"], o["o"], net.ResolveIPAddr)
		if err != nil {
			return "", fmt.Errorf("error while mounting volume '%s': %w", path, err)
		}
		if err := s.mount.mount(o["device"], o["type"], data, path); err != nil {
			return "", fmt.Errorf("error while mounting volume '%s': failed to mount local volume: %w", path, err)
		}
		s.log.Info("volume mounted", "volume", name, "type", o["type"], "device", o["device"])
	}
	if slices.Contains(m.Active, ref) {
		return path, nil
	}
	m.Active = append(slices.Clone(m.Active), ref)
	if err := s.setMeta(v, m); err != nil {
		return "", err
	}
	return path, nil
}

// setMeta saves m as v's metadata. Called with v.mu held.
func (s *Store) setMeta(v *vol, m meta) error {
	if err := s.save(m); err != nil {
		return err
	}
	s.mu.Lock()
	v.meta = m
	s.mu.Unlock()
	return nil
}

// Unmount says that container ref stopped using volume name; after the
// last one, a volume with a filesystem of its own has it unmounted. A
// volume that is gone, or that ref did not mount, is no error.
func (s *Store) Unmount(ctx context.Context, name, ref string) error {
	v, unlock, err := s.lookup(name)
	if errdefs.Is(err, errdefs.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	return s.unmount(v, ref)
}

// unmount drops ref from v's active containers and unmounts v after the
// last. Called with v.mu held.
func (s *Store) unmount(v *vol, ref string) error {
	s.mu.Lock()
	m := v.meta
	s.mu.Unlock()
	if !needsMount(m.Options) {
		return nil
	}
	if i := slices.Index(m.Active, ref); i >= 0 {
		m.Active = slices.Delete(slices.Clone(m.Active), i, i+1)
		if err := s.setMeta(v, m); err != nil {
			return err
		}
	}
	if len(m.Active) > 0 {
		return nil
	}
	if err := s.mount.unmount(s.dataPath(v.name)); err != nil {
		return fmt.Errorf("volume %s: %w", v.name, err)
	}
	s.log.Info("volume unmounted", "volume", v.name)
	return nil
}

// Release drops container ref's reference to volume name, unmounting it
// first when ref still has it mounted. A volume that is gone is no error.
func (s *Store) Release(ctx context.Context, name, ref string) error {
	v, unlock, err := s.lookup(name)
	if errdefs.Is(err, errdefs.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.unmount(v, ref); err != nil {
		return err
	}
	s.mu.Lock()
	delete(v.refs, ref)
	s.mu.Unlock()
	return nil
}

// References returns the containers that reference volume name.
func (s *Store) References(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		return slices.Sorted(maps.Keys(v.refs))
	}
	return nil
}
