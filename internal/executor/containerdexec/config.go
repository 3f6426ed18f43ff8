package containerdexec

import (
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/sys/signal"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
)

const (
	// defaultStopGrace is how long Shutdown waits after the stop signal,
	// as in Docker.
	defaultStopGrace = 10 * time.Second
	// defaultPath is the PATH a process gets when its image sets none.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// cpuPeriod is the CFS period CPU limits are expressed in (100 ms, as
	// Docker uses).
	cpuPeriod = 100000
)

// record is what Prepare decided about a container, in Docker's terms so
// that docker inspect shows it as dockerd would. It is kept in the
// container's directory: the executor holds no state of its own in memory.
type record struct {
	Name       string
	ImageID    string // the image config's digest, as docker shows image IDs
	Config     container.Config
	HostConfig container.HostConfig
	Mounts     []container.MountPoint
	StopGrace  time.Duration
	SandboxKey string // the network namespace's path; empty without a network
	// UsernsKey is the path of the user namespace that owns the network
	// namespace, which the container runs in; empty when there is none
	// (no remapping, or runc makes the network namespace).
	UsernsKey string             `json:",omitempty"`
	Endpoint  *executor.Endpoint // on the node bridge; nil without one
	// WayOut marks Endpoint as a plain container's way out of an
	// overlay (SetWayOut).
	WayOut bool `json:",omitempty"`
	// Connected marks Endpoint as its place on the default bridge, given
	// by docker network connect, whatever its network mode.
	Connected bool `json:",omitempty"`
	// Networks are its interfaces on swarm networks (eth1, …).
	Networks []executor.Endpoint `json:",omitempty"`
}

// resolveConfig decides a task's container config from its container spec
// and its image's config, the way dockerd and SwarmKit's container adapter
// together do: a spec Command replaces the image's entrypoint (and drops
// the image's cmd), spec Args replace the image's cmd, spec Env is merged
// over the image's.
func resolveConfig(t *swarm.Task, id, name string, img dockerspec.DockerOCIImageConfig) (container.Config, container.HostConfig, time.Duration, error) {
	cs := t.Spec.ContainerSpec
	if cs == nil {
		return container.Config{}, container.HostConfig{}, 0, errdefs.Invalid("task %s has no container spec", t.ID)
	}
	cfg := container.Config{
		Hostname:    cs.Hostname,
		User:        cs.User,
		Tty:         cs.TTY,
		OpenStdin:   cs.OpenStdin,
		Image:       cs.Image,
		WorkingDir:  cs.Dir,
		Labels:      containerLabels(t, name),
		StopSignal:  cs.StopSignal,
		Healthcheck: mergeHealthcheck(cs.Healthcheck, img.Healthcheck),
		Shell:       img.Shell,
	}
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
	}
	if cfg.User == "" {
		cfg.User = img.User
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = img.WorkingDir
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = img.StopSignal
	}
	if cfg.StopSignal != "" {
		if _, err := signal.ParseSignal(cfg.StopSignal); err != nil {
			return container.Config{}, container.HostConfig{}, 0, errdefs.Invalid("invalid stop signal %q: %v", cfg.StopSignal, err)
		}
	}
	for _, e := range cs.Env {
		if k, _, _ := strings.Cut(e, "="); k == "" {
			return container.Config{}, container.HostConfig{}, 0, errdefs.Invalid("invalid environment variable %q", e)
		}
	}
	cfg.Env = mergeEnv(img.Env, cs.Env)

	switch {
	case len(cs.Command) > 0:
		cfg.Entrypoint = cs.Command
		cfg.Cmd = cs.Args
	case len(cs.Args) > 0:
		cfg.Entrypoint = img.Entrypoint
		cfg.Cmd = cs.Args
	default:
		cfg.Entrypoint = img.Entrypoint
		cfg.Cmd = img.Cmd
	}
	if len(cfg.Entrypoint)+len(cfg.Cmd) == 0 {
		return container.Config{}, container.HostConfig{}, 0, errdefs.Invalid("no command specified: image %s has none and the service sets none", cs.Image)
	}

	if hc := healthCheck(cfg.Healthcheck); hc != nil {
		if _, err := probeCommand(hc.Test, cfg.Shell); err != nil {
			return container.Config{}, container.HostConfig{}, 0, err
		}
	}

	grace := defaultStopGrace
	if cs.StopGracePeriod != nil {
		grace = *cs.StopGracePeriod
	}
	timeout := int(grace / time.Second)
	cfg.StopTimeout = &timeout

	host := container.HostConfig{
		LogConfig:      container.LogConfig{Type: "json-file"},
		NetworkMode:    "default",
		ReadonlyRootfs: cs.ReadOnly,
		Init:           cs.Init,
		Mounts:         cs.Mounts,
		CapAdd:         cs.CapabilityAdd,
		CapDrop:        cs.CapabilityDrop,
		Sysctls:        cs.Sysctls,
		OomScoreAdj:    int(cs.OomScoreAdj),
		GroupAdd:       cs.Groups,
		ExtraHosts:     cs.Hosts,
		Isolation:      container.IsolationDefault,
	}
	if p := cs.Privileges; p != nil {
		var mode confine.SeccompMode
		var profile []byte
		if p.Seccomp != nil {
			mode, profile = confine.SeccompMode(p.Seccomp.Mode), p.Seccomp.Profile
		}
		host.SecurityOpt = confine.FormatSecurityOpt(p.NoNewPrivileges, mode, profile)
	}
	if d := cs.DNSConfig; d != nil {
		host.DNS, host.DNSSearch, host.DNSOptions = d.Nameservers, d.Search, d.Options
	}
	host.Ulimits = cs.Ulimits
	if r := t.Spec.Resources; r != nil {
		if l := r.Limits; l != nil {
			host.Memory = l.MemoryBytes
			host.NanoCPUs = l.NanoCPUs
			if l.Pids > 0 {
				pids := l.Pids
				host.PidsLimit = &pids
			}
		}
		if r.Reservations != nil {
			host.MemoryReservation = r.Reservations.MemoryBytes
		}
	}
	if host.NanoCPUs > 0 {
		host.CPUPeriod = cpuPeriod
		host.CPUQuota = host.NanoCPUs * cpuPeriod / 1e9
	}
	return cfg, host, grace, nil
}

// processEnv is the environment the container's process starts with, as
// dockerd makes it: a default PATH, HOSTNAME, TERM for a terminal, then the
// container's env over those.
func processEnv(cfg *container.Config) []string {
	base := []string{"PATH=" + defaultPath, "HOSTNAME=" + cfg.Hostname}
	if cfg.Tty {
		base = append(base, "TERM=xterm")
	}
	return mergeEnv(base, cfg.Env)
}

// mergeEnv returns base with every KEY=value of over replacing base's KEY,
// or appended when base has no KEY; order is kept.
func mergeEnv(base, over []string) []string {
	out := make([]string, 0, len(base)+len(over))
	index := make(map[string]int, len(base)+len(over))
	for _, list := range [][]string{base, over} {
		for _, e := range list {
			k, _, _ := strings.Cut(e, "=")
			if i, ok := index[k]; ok {
				out[i] = e
				continue
			}
			index[k] = len(out)
			out = append(out, e)
		}
	}
	return out
}
