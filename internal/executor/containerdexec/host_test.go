package containerdexec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-project/shoal/internal/sysinfo"
)

// TestSnapshotterRoot checks that containerd is asked where the
// snapshotter keeps its data, and answers with the directory under its
// root that holds the containers' layers.
func TestSnapshotterRoot(t *testing.T) {
	e := newExecutor(t, "")
	if got := e.Snapshotter(); got != "overlayfs" {
		t.Errorf("Snapshotter: got %q, want overlayfs", got)
	}
	root, err := e.SnapshotterRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(env.pcfg.Root, "io.containerd.snapshotter.v1.overlayfs"); root != want {
		t.Errorf("SnapshotterRoot: got %s, want %s", root, want)
	}
	if _, err := os.Stat(filepath.Join(root, "snapshots")); err != nil {
		t.Errorf("the snapshotter root holds no snapshots: %v", err)
	}
}

// TestCgroupDriver checks the driver named against a real container: its
// spec's cgroups path is of that driver's form, and the container's cgroup
// is where that driver puts it.
func TestCgroupDriver(t *testing.T) {
	e := newExecutor(t, "")
	driver, err := e.CgroupDriver(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if driver != "cgroupfs" {
		t.Errorf("CgroupDriver: got %q, want cgroupfs", driver)
	}
	task := newTask("sleep", "1000")
	start(t, e, task)
	ctx := e.ns(t.Context())
	ctr, err := e.cfg.Client.LoadContainer(ctx, ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := spec.Linux.CgroupsPath
	if got := sysinfo.CgroupDriver(path); got != driver {
		t.Errorf("container's cgroups path %q is for %s, want %s", path, got, driver)
	}
	// cgroupfs puts it at the path under each v1 hierarchy or the v2 root.
	dir := filepath.Join("/sys/fs/cgroup/pids", path)
	if sysinfo.Read(os.DirFS("/")).Cgroups.Version == "2" {
		dir = filepath.Join("/sys/fs/cgroup", path)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		t.Errorf("no cgroup where cgroupfs puts it: %v", err)
	}
}
