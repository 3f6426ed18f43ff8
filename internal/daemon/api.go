package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/apiserver"
	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/forward"
	"github.com/shoal-project/shoal/internal/node"
)

// newAPI assembles the Docker Engine API over the engine and the node:
// followers send cluster writes to the leader, the rest is served here.
func newAPI(eng *engine.Engine, nd *node.Node, o Options, labels map[string]string, log *slog.Logger) http.Handler {
	api := apiserver.New(apiserver.Config{
		Cluster:     nd,
		Containers:  eng.Executor,
		Images:      eng.Images,
		Networks:    eng,
		ServiceLogs: nd,
		System:      &hostInfo{dataRoot: o.DataRoot, hostname: o.Hostname, labels: labels},
		Version:     Version,
		Logger:      log.With("component", "api"),
	})
	nd.SetAPI(api)
	return forward.Middleware(api, func() forward.Router { return nd.Forwarder() })
}

// hostInfo answers the host's part of GET /info.
type hostInfo struct {
	dataRoot string
	hostname string
	labels   map[string]string
}

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
	return system.Info{
		ID:              name,
		Name:            name,
		Driver:          "overlayfs",
		LoggingDriver:   "json-file",
		CgroupDriver:    "cgroupfs",
		KernelVersion:   unix.ByteSliceToString(uts.Release[:]),
		OperatingSystem: osName(),
		OSType:          runtime.GOOS,
		Architecture:    unix.ByteSliceToString(uts.Machine[:]),
		NCPU:            runtime.NumCPU(),
		MemTotal:        memTotal(),
		DockerRootDir:   h.dataRoot,
		Labels:          labels,
		ServerVersion:   Version,
		DefaultRuntime:  "runc",
		MemoryLimit:     true,
		PidsLimit:       true,
		CPUCfsQuota:     true,
		CPUCfsPeriod:    true,
		IPv4Forwarding:  true,
	}, nil
}

func osName() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
