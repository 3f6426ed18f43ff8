package containerdexec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
)

// remapOf is the remapping a container with host runs under: the
// daemon's (Config.Remap) unless it asks for the host's user namespace;
// nil for none.
func (e *Executor) remapOf(host *container.HostConfig) *confine.Remap {
	if e.cfg.Remap.Remapped(host) {
		return e.cfg.Remap
	}
	return nil
}

// newSnapshot makes container id's root filesystem from img: under a
// remapping, on a copy of the image owned by the remapped IDs, which
// containerd keeps once per image and mapping and shares between the
// containers made from them.
func newSnapshot(id string, img client.Image, r *confine.Remap) client.NewContainerOpts {
	if r == nil {
		return client.WithNewSnapshot(id, img)
	}
	return client.WithUserNSRemappedSnapshot(id, img, r.UIDs, r.GIDs)
}

// ownContainerDir gives the container's root, under remapping r, what it
// needs of the container's directory dir, as dockerd does: the directory
// is the remapped root's group (to reach the files in it, mode 0710
// otherwise keeping others out), and the files named are the remapped
// root's (hosts, resolv.conf, hostname, which the container may change).
func ownContainerDir(dir string, files map[string][]byte, r *confine.Remap) error {
	if r == nil {
		return nil
	}
	uid, gid := r.Root()
	if err := os.Chown(dir, 0, gid); err != nil {
		return fmt.Errorf("give the container directory to the remapped root: %w", err)
	}
	for f := range files {
		if err := os.Chown(filepath.Join(dir, f), uid, gid); err != nil {
			return fmt.Errorf("give %s to the remapped root: %w", f, err)
		}
	}
	return nil
}

// withRemappedMounts adjusts the mounts of a container in a remapped user
// namespace to what the kernel lets its root mount. A sysfs can be
// mounted only by a user namespace that owns the network namespace, and
// the node makes the container's before it runs (dockerd lets runc make
// it, and plugs it in from a hook), so the host's /sys is bound
// read-only instead, as runtimes do when sysfs is refused. The cgroup
// mount loses its read-only flag, as dockerd's does under remapping: a
// remount read-only is refused in a user namespace.
func withRemappedMounts(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
	ownNetns := true
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace && ns.Path != "" {
				ownNetns = false
			}
		}
	}
	for i, m := range s.Mounts {
		switch {
		case m.Type == "sysfs" && !ownNetns:
			s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		case m.Type == "cgroup":
			s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
		}
	}
	return nil
}

// IDMapOf returns the remapping container id runs under, which docker cp
// and export translate owners through: nil when it runs in the host's
// user namespace.
func (e *Executor) IDMapOf(id string) (*confine.Remap, error) {
	if e.cfg.Remap == nil {
		return nil, nil
	}
	rec, err := e.readRecord(id)
	if err != nil {
		return nil, fmt.Errorf("read config of %s: %w", id, err)
	}
	return e.remapOf(&rec.HostConfig), nil
}
