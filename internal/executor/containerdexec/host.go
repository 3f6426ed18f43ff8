package containerdexec

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/containerd/v2/plugins"

	"github.com/shoal-project/shoal/internal/sysinfo"
)

// Snapshotter is the containerd snapshotter that holds the containers'
// root filesystems: the storage driver, as docker info calls it.
func (e *Executor) Snapshotter() string {
	return e.cfg.Snapshotter
}

// SnapshotterRoot is the directory the snapshotter keeps its data in, as
// the containerd that runs it reports it.
func (e *Executor) SnapshotterRoot(ctx context.Context) (string, error) {
	resp, err := e.cfg.Client.IntrospectionService().Plugins(ctx,
		fmt.Sprintf("type==%s,id==%s", plugins.SnapshotPlugin, e.cfg.Snapshotter))
	if err != nil {
		return "", fmt.Errorf("ask containerd about snapshotter %s: %w", e.cfg.Snapshotter, err)
	}
	if len(resp.Plugins) == 0 {
		return "", fmt.Errorf("containerd has no snapshotter %s", e.cfg.Snapshotter)
	}
	p := resp.Plugins[0]
	if p.InitErr != nil {
		return "", fmt.Errorf("containerd's snapshotter %s did not start: %s", e.cfg.Snapshotter, p.InitErr.Message)
	}
	root := p.Exports[plugins.SnapshotterRootDir]
	if root == "" {
		return "", fmt.Errorf("containerd does not say where snapshotter %s keeps its data", e.cfg.Snapshotter)
	}
	return root, nil
}

// CgroupDriver is the cgroup driver that manages the containers, read off
// the spec every container starts from. That spec has containerd's default
// cgroups path, /NAMESPACE/ID, and the runc shim is started without its
// SystemdCgroup option, so runc manages it with cgroupfs; a systemd slice
// there would show as "systemd".
func (e *Executor) CgroupDriver(ctx context.Context) (string, error) {
	s, err := oci.GenerateSpec(e.ns(ctx), nil, &containers.Container{ID: "cgroup-driver-probe"})
	if err != nil {
		return "", fmt.Errorf("generate a container spec: %w", err)
	}
	if s.Linux == nil {
		return "", errors.New("the container spec has no Linux section")
	}
	return sysinfo.CgroupDriver(s.Linux.CgroupsPath), nil
}
