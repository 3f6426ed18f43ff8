package daemon

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/apiserver"
	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/events"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/forward"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/node"
	"github.com/shoal-project/shoal/internal/runtimes"
	"github.com/shoal-project/shoal/internal/sysinfo"
)

// newAPI assembles the Docker Engine API over the engine and the node:
// followers send cluster writes to the leader, the rest is served here.
func newAPI(eng *engine.Engine, nd *node.Node, bus *events.Bus, o Options, engineID string, labels map[string]string, log *slog.Logger) http.Handler {
	api := apiserver.New(apiserver.Config{
		Cluster:     nd,
		Containers:  eng.Containers,
		Lifecycle:   eng.Containers,
		Images:      eng.Images,
		Registry:    eng.Images,
		Networks:    eng,
		Volumes:     eng.Volumes,
		ServiceLogs: nd,
		Backups:     nd,
		ImagePins:   nd,
		Events:      bus,
		DiskUsage:   diskUsage{eng.Images, eng.Executor},
		Stats:       eng.Executor,
		Builder:     eng.Builder,
		System: &hostInfo{
			id:         engineID,
			dataRoot:   o.DataRoot,
			hostname:   o.Hostname,
			labels:     labels,
			root:       os.DirFS("/"),
			containers: eng.Executor,
			remapped:   o.UsernsRemap != "",
			runtimes:   eng.Executor.Runtimes(),
		},
		Version: Version,
		Logger:  log.With("component", "api"),
	})
	nd.SetAPI(api)
	return withTestHooks(forward.Middleware(api, func() forward.Router { return nd.Forwarder() }), nd)
}

// diskUsage measures the node's disk: images from the image store,
// containers and volumes from the executor.
type diskUsage struct {
	images *images.Store
	*containerdexec.Executor
}

func (d diskUsage) ImageDiskUsage(ctx context.Context) (int64, []image.Summary, error) {
	return d.images.DiskUsage(ctx)
}

// containerHost is what the executor says about how containers are kept
// and limited (containerdexec.Executor).
type containerHost interface {
	Snapshotter() string
	SnapshotterRoot(ctx context.Context) (string, error)
	CgroupDriver(ctx context.Context) (string, error)
}

// hostInfo answers the host's part of GET /info.
type hostInfo struct {
	id         string // the engine ID (engineid)
	dataRoot   string
	hostname   string
	labels     map[string]string
	root       fs.FS // a view of / for sysinfo
	containers containerHost
	remapped   bool // containers run in remapped user namespaces (--userns-remap)
	runtimes   *runtimes.Set
}

// Info reads what the host offers afresh on every call: a sysctl may have
// changed since the last. What cannot be found out is left out, and the
// error says why.
func (h *hostInfo) Info(ctx context.Context) (system.Info, error) {
	var uts unix.Utsname
	unix.Uname(&uts)
	name := h.hostname
	if name == "" {
		name, _ = os.Hostname()
	}
	var labels []string
	for k, v := range h.labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)

	var errs []error
	host := sysinfo.Read(h.root)
	cgroupDriver, err := h.containers.CgroupDriver(ctx)
	errs = append(errs, err)
	driver := h.containers.Snapshotter()
	var status [][2]string
	if root, err := h.containers.SnapshotterRoot(ctx); err != nil {
		errs = append(errs, err)
	} else {
		status, err = sysinfo.DriverStatus(driver, root)
		errs = append(errs, err)
	}
	cg := host.Cgroups
	return system.Info{
		ID:              h.id,
		Name:            name,
		Driver:          driver,
		DriverStatus:    status,
		LoggingDriver:   "json-file",
		CgroupDriver:    cgroupDriver,
		CgroupVersion:   cg.Version,
		KernelVersion:   unix.ByteSliceToString(uts.Release[:]),
		OperatingSystem: osName(),
		OSType:          runtime.GOOS,
		Architecture:    unix.ByteSliceToString(uts.Machine[:]),
		NCPU:            runtime.NumCPU(),
		MemTotal:        memTotal(),
		DockerRootDir:   h.dataRoot,
		Labels:          labels,
		ServerVersion:   Version,
		Runtimes:        h.runtimes.Info(),
		DefaultRuntime:  h.runtimes.Default(),
		MemoryLimit:     cg.Memory,
		SwapLimit:       cg.Swap,
		OomKillDisable:  cg.OomKillDisable,
		CPUCfsPeriod:    cg.CPUCfs,
		CPUCfsQuota:     cg.CPUCfs,
		CPUShares:       cg.CPUShares,
		CPUSet:          cg.CPUSet,
		PidsLimit:       cg.Pids,
		SecurityOptions: confine.SecurityOptions(h.remapped),
		IPv4Forwarding:  host.Networking.IPv4Forwarding,
		Warnings:        append(host.Warnings(), sysinfo.DriverWarnings(driver, status)...),
	}, errors.Join(errs...)
}

func osName() string {
	if v := osRelease("PRETTY_NAME"); v != "" {
		return v
	}
	return runtime.GOOS
}

// osVersion is the host's VERSION_ID, as dockerd shows OSVersion.
func osVersion() string { return osRelease("VERSION_ID") }

func osRelease(key string) string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
