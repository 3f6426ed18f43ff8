package containerdexec

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/network/ownedns"
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

// usernsPath is where the user namespace owning container id's network
// namespace is mounted, under a remapping.
func (e *Executor) usernsPath(id string) string {
	return filepath.Join(e.cfg.ExecRoot, "userns", id)
}

// ownNetwork makes the network namespace of container id, under
// remapping r, owned by a user namespace of its own, where the node's
// network then plumbs it, and returns that user namespace's path, which
// the container runs in (package ownedns says why). It returns "" without
// a remapping or a node network (runc then makes the network namespace
// inside the container's user namespace itself). A network namespace made
// before, by a Prepare run again, is kept with its user namespace.
func (e *Executor) ownNetwork(id string, r *confine.Remap) (string, error) {
	if r == nil || e.cfg.Network == nil {
		return "", nil
	}
	userPath, netPath := e.usernsPath(id), e.cfg.Network.NetnsPath(id)
	if made, err := ownedns.Mounted(netPath); err != nil {
		return "", err
	} else if made {
		if owned, err := ownedns.Mounted(userPath); err != nil || !owned {
			return "", err
		}
		return userPath, nil
	}
	if err := ownedns.Create(userPath, netPath, r.UIDs, r.GIDs); err != nil {
		return "", fmt.Errorf("network namespace of %s: %w", id, err)
	}
	return userPath, nil
}

// releaseUserns removes the user namespace ownNetwork made for container
// id, if any; the network's Release removes the network namespace.
func (e *Executor) releaseUserns(id string) error {
	return ownedns.Remove(e.usernsPath(id))
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
