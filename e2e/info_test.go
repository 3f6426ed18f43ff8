package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/sysinfo"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// nodeInfo is what TestInfo reads of `docker info`.
type nodeInfo struct {
	ID             string
	Driver         string
	DriverStatus   [][2]string
	CgroupDriver   string
	CgroupVersion  string
	IPv4Forwarding bool
}

func readInfo(t *testing.T, d *Daemon) nodeInfo {
	t.Helper()
	var info nodeInfo
	if err := json.Unmarshal([]byte(d.Docker("info", "--format", "{{json .}}")), &info); err != nil {
		t.Fatalf("decode docker info: %v", err)
	}
	return info
}

// TestInfo checks `docker info` against what it describes: the engine ID
// against the engine-id file, across a restart and against a second
// daemon on the same host; the storage and cgroup drivers against a task
// container as containerd holds it; the rest against the host.
func TestInfo(t *testing.T) {
	a := StartDaemon(t)
	b := StartDaemon(t, "--bridge-cidr", "172.28.0.0/16")
	info := readInfo(t, a)

	t.Run("the ID is the engine-id file's, kept across a restart, and each daemon's own", func(t *testing.T) {
		kept, err := os.ReadFile(filepath.Join(a.DataRoot, "engine-id"))
		if err != nil {
			t.Fatal(err)
		}
		if info.ID != string(kept) {
			t.Errorf("got ID %q, want the engine-id file's %q", info.ID, kept)
		}
		if err := uuid.Validate(info.ID); err != nil {
			t.Errorf("got ID %q, want a UUID: %v", info.ID, err)
		}
		if other := readInfo(t, b).ID; other == info.ID {
			t.Errorf("two daemons on one host have the same ID %q", other)
		}
		a.Stop()
		a.Start()
		if again := readInfo(t, a).ID; again != info.ID {
			t.Errorf("after a restart: got ID %q, want %q", again, info.ID)
		}
	})

	t.Run("drivers are those of a task container", func(t *testing.T) {
		a.Docker("import", testimage.RootfsTar(t), "busybox:latest")
		initSwarm(t, a)
		a.Docker("service", "create", "-d", "--no-resolve-image", "--name", "probe", "busybox:latest", "sleep", "3600")
		id := waitContainers(t, a, "probe", 1)[0]
		out, err := exec.Command("ctr", "--address", filepath.Join(a.ExecRoot, "containerd", "containerd.sock"),
			"--namespace", "shoal", "containers", "info", id).CombinedOutput()
		if err != nil {
			t.Fatalf("ctr containers info %s: %v\n%s", id, err, out)
		}
		var ctr struct {
			Snapshotter string
			Spec        struct {
				Linux struct {
					CgroupsPath string `json:"cgroupsPath"`
				} `json:"linux"`
			}
		}
		if err := json.Unmarshal(out, &ctr); err != nil {
			t.Fatalf("decode ctr containers info: %v\n%s", err, out)
		}
		if ctr.Snapshotter == "" || ctr.Spec.Linux.CgroupsPath == "" {
			t.Fatalf("ctr containers info shows no snapshotter or cgroups path:\n%s", out)
		}
		if info.Driver != ctr.Snapshotter {
			t.Errorf("got Driver %q, want the container's snapshotter %q", info.Driver, ctr.Snapshotter)
		}
		if want := sysinfo.CgroupDriver(ctr.Spec.Linux.CgroupsPath); info.CgroupDriver != want {
			t.Errorf("got CgroupDriver %q, want %q for the container's cgroups path %q", info.CgroupDriver, want, ctr.Spec.Linux.CgroupsPath)
		}
		var st unix.Statfs_t
		root := filepath.Join(a.DataRoot, "containerd", "io.containerd.snapshotter.v1."+ctr.Snapshotter)
		if err := unix.Statfs(root, &st); err != nil {
			t.Fatal(err)
		}
		want := [2]string{"Backing Filesystem", sysinfo.FilesystemName(int64(st.Type))}
		found := false
		for _, row := range info.DriverStatus {
			found = found || row == want
		}
		if !found {
			t.Errorf("got DriverStatus %v, want it to hold %v", info.DriverStatus, want)
		}
	})

	t.Run("cgroup version and IPv4 forwarding are the host's", func(t *testing.T) {
		version := "1"
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
			version = "2"
		}
		if info.CgroupVersion != version {
			t.Errorf("got CgroupVersion %q, want %q", info.CgroupVersion, version)
		}
		fwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(fwd)) == "1"; info.IPv4Forwarding != want {
			t.Errorf("got IPv4Forwarding %v, want %v (ip_forward is %s)", info.IPv4Forwarding, want, fwd)
		}
	})
}
