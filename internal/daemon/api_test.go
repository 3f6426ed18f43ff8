package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/system"

	"github.com/shoal-project/shoal/internal/runtimes"
)

// fakeContainers stands in for the executor.
type fakeContainers struct {
	snapshotter, root, cgroupDriver string
	rootErr                         error
}

func (f fakeContainers) Snapshotter() string { return f.snapshotter }
func (f fakeContainers) SnapshotterRoot(context.Context) (string, error) {
	return f.root, f.rootErr
}
func (f fakeContainers) CgroupDriver(context.Context) (string, error) { return f.cgroupDriver, nil }

// hostV2 is a cgroup v2 host with only the memory and pids controllers,
// no swap accounting and IPv4 forwarding off.
var hostV2 = fstest.MapFS{
	"sys/fs/cgroup/cgroup.controllers":             {Data: []byte("memory pids\n")},
	"proc/self/cgroup":                             {Data: []byte("0::/shoal.service\n")},
	"proc/sys/net/ipv4/ip_forward":                 {Data: []byte("0\n")},
	"proc/sys/net/bridge/bridge-nf-call-iptables":  {Data: []byte("1\n")},
	"proc/sys/net/bridge/bridge-nf-call-ip6tables": {Data: []byte("1\n")},
}

// TestHostInfo checks that /info's host fields come from the host and the
// executor, field by field, rather than from constants.
func TestHostInfo(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "snapshots"), 0o700); err != nil {
		t.Fatal(err)
	}
	h := &hostInfo{
		id:         "0f6bd5b6-3d0e-4c36-9ad4-4d1f3c5e3c1a",
		root:       hostV2,
		containers: fakeContainers{snapshotter: "overlayfs", root: root, cgroupDriver: "cgroupfs"},
		runtimes:   runtimes.RuncOnly(),
	}
	info, err := h.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := system.Info{
		ID: info.ID, Driver: info.Driver, CgroupDriver: info.CgroupDriver, CgroupVersion: info.CgroupVersion,
		MemoryLimit: info.MemoryLimit, SwapLimit: info.SwapLimit, OomKillDisable: info.OomKillDisable,
		CPUCfsPeriod: info.CPUCfsPeriod, CPUCfsQuota: info.CPUCfsQuota, CPUShares: info.CPUShares, CPUSet: info.CPUSet,
		PidsLimit: info.PidsLimit, IPv4Forwarding: info.IPv4Forwarding, Warnings: info.Warnings,
	}
	want := system.Info{
		ID: h.id, Driver: "overlayfs", CgroupDriver: "cgroupfs", CgroupVersion: "2",
		MemoryLimit: true, PidsLimit: true,
		Warnings: []string{
			"WARNING: No swap limit support",
			"WARNING: No cpu cfs quota support", "WARNING: No cpu cfs period support", "WARNING: No cpu shares support", "WARNING: No cpuset support",
			"WARNING: No io.weight support", "WARNING: No io.weight (per device) support",
			"WARNING: No io.max (rbps) support", "WARNING: No io.max (wbps) support", "WARNING: No io.max (riops) support", "WARNING: No io.max (wiops) support",
			"WARNING: IPv4 forwarding is disabled",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	if len(info.DriverStatus) != 3 || info.DriverStatus[0] != [2]string{"driver-type", "io.containerd.snapshotter.v1"} ||
		info.DriverStatus[1][0] != "Backing Filesystem" || info.DriverStatus[2] != [2]string{"Supports d_type", "true"} {
		t.Errorf("driver status: got %v, want driver-type, Backing Filesystem and Supports d_type true", info.DriverStatus)
	}

	t.Run("runtimes are the daemon's", func(t *testing.T) {
		want := map[string]system.RuntimeWithStatus{
			"runc":                  {Runtime: system.Runtime{Path: "runc"}},
			"io.containerd.runc.v2": {Runtime: system.Runtime{Path: "runc"}},
		}
		if diff := cmp.Diff(want, info.Runtimes); diff != "" || info.DefaultRuntime != "runc" {
			t.Errorf("default runtime %q, want runc; runtimes (-want +got):\n%s", info.DefaultRuntime, diff)
		}
		rts, err := runtimes.New("crun", nil, func(string) (string, error) { return "/usr/bin/crun", nil })
		if err != nil {
			t.Fatal(err)
		}
		h := *h
		h.runtimes = rts
		info, _ := h.Info(t.Context())
		if info.DefaultRuntime != "crun" || info.Runtimes["crun"].Path != "/usr/bin/crun" {
			t.Errorf("with --default-runtime crun: default %q, runtimes %v; want crun at /usr/bin/crun", info.DefaultRuntime, info.Runtimes)
		}
	})

	t.Run("an unknown snapshotter root leaves its rows out", func(t *testing.T) {
		h := *h
		h.containers = fakeContainers{snapshotter: "overlayfs", rootErr: errors.New("containerd has no snapshotter overlayfs"), cgroupDriver: "cgroupfs"}
		info, err := h.Info(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no snapshotter") {
			t.Errorf("got error %v, want the snapshotter's", err)
		}
		if info.Driver != "overlayfs" || info.DriverStatus != nil || info.MemoryLimit != true {
			t.Errorf("got driver %q status %v memory limit %v, want overlayfs, no status and the rest filled in", info.Driver, info.DriverStatus, info.MemoryLimit)
		}
	})

	t.Run("security options say when user namespaces are remapped", func(t *testing.T) {
		if got, want := info.SecurityOptions, []string{"name=seccomp,profile=builtin"}; !cmp.Equal(got, want) {
			t.Errorf("without remapping: got %v, want %v", got, want)
		}
		h := *h
		h.remapped = true
		info, _ := h.Info(t.Context())
		if got, want := info.SecurityOptions, []string{"name=seccomp,profile=builtin", "name=userns"}; !cmp.Equal(got, want) {
			t.Errorf("with --userns-remap: got %v, want %v", got, want)
		}
	})
}
