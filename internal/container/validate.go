package container

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/sys/signal"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// Docker's bounds on resources.
const (
	minMemory    = 6 * 1024 * 1024 // the smallest memory limit dockerd accepts
	minCPUPeriod = 1000
	maxCPUPeriod = 1000000
	minCPUQuota  = 1000
	// DefaultShmSize is /dev/shm's size when the request sets none.
	DefaultShmSize = 64 * 1024 * 1024
)

// WithDefaults fills in what a create request leaves to the daemon, as
// docker inspect then shows it: the bridge network, no restart policy,
// the json-file log and a 64 MiB /dev/shm.
func WithDefaults(host *containertypes.HostConfig) {
	if host.NetworkMode == "" || host.NetworkMode == "default" {
		host.NetworkMode = "bridge"
	}
	if host.RestartPolicy.Name == "" {
		host.RestartPolicy.Name = containertypes.RestartPolicyDisabled
	}
	if host.LogConfig.Type == "" {
		host.LogConfig.Type = "json-file"
	}
	if host.ShmSize == 0 {
		host.ShmSize = DefaultShmSize
	}
}

// Validate checks a create request as dockerd does before it makes
// anything, with its messages, and refuses what this node does not
// support rather than ignore it. ncpu is the node's CPU count.
func Validate(cfg *containertypes.Config, host *containertypes.HostConfig, ncpu int) error {
	if cfg == nil {
		return errdefs.Invalid("config cannot be empty in order to create a container")
	}
	if cfg.Image == "" {
		return errdefs.Invalid("Config.Image: an image is required")
	}
	if cfg.WorkingDir != "" && !path.IsAbs(cfg.WorkingDir) {
		return errdefs.Invalid("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
	}
	if cfg.StopSignal != "" {
		if _, err := signal.ParseSignal(cfg.StopSignal); err != nil {
			return errdefs.Invalid("invalid stop signal: %s", cfg.StopSignal)
		}
	}
	for _, e := range cfg.Env {
		if k, _, _ := strings.Cut(e, "="); k == "" {
			return errdefs.Invalid("invalid environment variable %q: the name is empty", e)
		}
	}
	if err := checkHealthcheck(cfg.Healthcheck); err != nil {
		return err
	}
	if host == nil {
		return nil
	}
	if err := containertypes.ValidateRestartPolicy(host.RestartPolicy); err != nil {
		return errdefs.Invalid("%v", err)
	}
	if host.AutoRemove && host.RestartPolicy.Name != "" && host.RestartPolicy.Name != containertypes.RestartPolicyDisabled {
		return errdefs.Invalid("can't create 'AutoRemove' container with restart policy")
	}
	if err := checkNetworkMode(host); err != nil {
		return err
	}
	if _, err := PortRequests(host, cfg.ExposedPorts); err != nil {
		return err
	}
	if err := CheckResources(&host.Resources, ncpu); err != nil {
		return err
	}
	if err := confine.CheckCapabilities("HostConfig", host.CapAdd, host.CapDrop); err != nil {
		return err
	}
	if _, err := confine.ParseSecurityOpt(host.SecurityOpt); err != nil {
		return err
	}
	for _, h := range host.ExtraHosts {
		if err := checkExtraHost(h); err != nil {
			return err
		}
	}
	if t := host.LogConfig.Type; t != "" && t != "json-file" {
		return errdefs.Invalid("HostConfig.LogConfig.Type: logging driver %q is not available on this node: it logs json-file", t)
	}
	if _, err := LogRotation(host); err != nil {
		return err
	}
	if host.ShmSize < 0 {
		return errdefs.Invalid("SHM size can not be less than 0")
	}
	if _, err := Mounts(cfg, host); err != nil {
		return err
	}
	return checkUnsupported(host)
}

func checkHealthcheck(hc *containertypes.HealthConfig) error {
	if hc == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    int64
	}{{"Interval", int64(hc.Interval)}, {"Timeout", int64(hc.Timeout)}, {"StartPeriod", int64(hc.StartPeriod)}, {"StartInterval", int64(hc.StartInterval)}} {
		if d.v != 0 && d.v < int64(containertypes.MinimumDuration) {
			return errdefs.Invalid("%s in Healthcheck cannot be less than %s", d.name, containertypes.MinimumDuration)
		}
	}
	if hc.Retries < 0 {
		return errdefs.Invalid("Retries in Healthcheck cannot be negative")
	}
	if len(hc.Test) > 0 {
		switch hc.Test[0] {
		case "NONE", "CMD", "CMD-SHELL":
		default:
			return errdefs.Invalid("Healthcheck.Test: unknown test type %q: want NONE, CMD or CMD-SHELL", hc.Test[0])
		}
	}
	return nil
}

// checkNetworkMode accepts the predefined networks, container:ID and a
// network name; whether a named network exists is the engine's to say.
func checkNetworkMode(host *containertypes.HostConfig) error {
	mode := host.NetworkMode
	if mode.IsContainer() && mode.ConnectedContainer() == "" {
		return errdefs.Invalid("invalid network mode: %s: container:<name|id> needs a container", mode)
	}
	if mode.IsContainer() || mode.IsHost() {
		if len(host.PortBindings) > 0 || host.PublishAllPorts {
			return errdefs.Invalid("conflicting options: port publishing and the container type network mode")
		}
	}
	if mode.IsContainer() && (len(host.DNS) > 0 || len(host.ExtraHosts) > 0) {
		return errdefs.Invalid("conflicting options: dns and the network mode")
	}
	return nil
}

// CheckResources checks resource limits as dockerd does, for a create
// and for an update.
func CheckResources(r *containertypes.Resources, ncpu int) error {
	switch {
	case r.Memory != 0 && r.Memory < minMemory:
		return errdefs.Invalid("Minimum memory limit allowed is 6MB")
	case r.MemorySwap > 0 && r.Memory == 0:
		return errdefs.Invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
	case r.MemorySwap > 0 && r.MemorySwap < r.Memory:
		return errdefs.Invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
	case r.Memory > 0 && r.MemoryReservation > r.Memory:
		return errdefs.Invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
	case r.NanoCPUs > 0 && r.CPUPeriod > 0:
		return errdefs.Invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	case r.NanoCPUs > 0 && r.CPUQuota > 0:
		return errdefs.Invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	case r.NanoCPUs < 0 || r.NanoCPUs > int64(ncpu)*1e9:
		return errdefs.Invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
	case r.CPUPeriod != 0 && (r.CPUPeriod < minCPUPeriod || r.CPUPeriod > maxCPUPeriod):
		return errdefs.Invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	case r.CPUQuota > 0 && r.CPUQuota < minCPUQuota:
		return errdefs.Invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	case r.CPUShares < 0:
		return errdefs.Invalid("invalid CPU shares (%d): value must be a positive integer", r.CPUShares)
	}
	for _, u := range r.Ulimits {
		if u == nil {
			continue
		}
		if !slices.Contains(ulimitNames, u.Name) {
			return errdefs.Invalid("invalid ulimit type: %s", u.Name)
		}
		if u.Soft > u.Hard {
			return errdefs.Invalid("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
	}
	unsupported := []struct {
		field string
		set   bool
	}{
		{"CgroupParent", r.CgroupParent != ""},
		{"BlkioWeight", r.BlkioWeight != 0 || len(r.BlkioWeightDevice) > 0},
		{"BlkioDeviceReadBps", len(r.BlkioDeviceReadBps)+len(r.BlkioDeviceWriteBps)+len(r.BlkioDeviceReadIOps)+len(r.BlkioDeviceWriteIOps) > 0},
		{"Devices", len(r.Devices) > 0},
		{"DeviceCgroupRules", len(r.DeviceCgroupRules) > 0},
		{"DeviceRequests", len(r.DeviceRequests) > 0},
		{"CpuRealtimePeriod", r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0},
	}
	for _, u := range unsupported {
		if u.set {
			return errdefs.Invalid("HostConfig.%s is not supported by this node yet", u.field)
		}
	}
	return nil
}

// ulimitNames are the resource limits a container may set (setrlimit's).
var ulimitNames = []string{
	"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
	"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
}

// checkExtraHost checks a --add-host entry: "NAME:IP" or "NAME=IP", the IP
// possibly "host-gateway".
func checkExtraHost(h string) error {
	name, ip, ok := strings.Cut(h, "=")
	if !ok {
		name, ip, ok = strings.Cut(h, ":")
	}
	if !ok || name == "" {
		return errdefs.Invalid("bad format for add-host: %q: want NAME:IP", h)
	}
	if ip == HostGateway {
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
		return errdefs.Invalid("invalid IP address in add-host: %q", ip)
	}
	return nil
}

// HostGateway in an extra host stands for the node's address on the
// container's network.
const HostGateway = "host-gateway"

// checkUnsupported refuses what this node does not do yet rather than
// run a container that is not what was asked.
func checkUnsupported(host *containertypes.HostConfig) error {
	namespaces := []struct {
		field, value string
		ok           []string
	}{
		{"PidMode", string(host.PidMode), []string{"", "host"}},
		{"IpcMode", string(host.IpcMode), []string{"", "private", "shareable", "host"}},
		{"UTSMode", string(host.UTSMode), []string{"", "host"}},
		{"UsernsMode", string(host.UsernsMode), []string{"", "host"}},
		{"CgroupnsMode", string(host.CgroupnsMode), []string{"", "private"}},
		{"Isolation", string(host.Isolation), []string{"", "default"}},
		{"VolumeDriver", host.VolumeDriver, []string{"", "local"}},
	}
	for _, n := range namespaces {
		if !slices.Contains(n.ok, n.value) {
			return errdefs.Invalid("HostConfig.%s %q is not supported by this node: %s", n.field, n.value, choices(n.ok))
		}
	}
	switch {
	case len(host.Links) > 0 && (host.NetworkMode == "" || !host.NetworkMode.IsUserDefined()):
		// On a user-defined network a link is a name in its DNS
		// (internal/network/localnet); on the default bridge it would
		// need /etc/hosts entries kept up to date.
		return errdefs.Invalid("HostConfig.Links is supported only on a user-defined network on this node: legacy links are deprecated; use a user-defined network")
	case len(host.VolumesFrom) > 0:
		return errdefs.Invalid("HostConfig.VolumesFrom is not supported by this node yet")
	case len(host.StorageOpt) > 0:
		return errdefs.Invalid("HostConfig.StorageOpt is not supported by this node")
	}
	return nil
}

// choices says which values of a field are accepted ("" is leaving it
// unset).
func choices(ok []string) string {
	var q []string
	for _, v := range ok {
		if v != "" {
			q = append(q, fmt.Sprintf("%q", v))
		}
	}
	if len(q) == 0 {
		return "leave it unset"
	}
	return "leave it unset or use " + strings.Join(q, ", ")
}
