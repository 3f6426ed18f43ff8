package container

import (
	"strings"
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestValidate(t *testing.T) {
	cfg := func(f func(c *containertypes.Config)) *containertypes.Config {
		c := &containertypes.Config{Image: "busybox"}
		if f != nil {
			f(c)
		}
		return c
	}
	host := func(f func(h *containertypes.HostConfig)) *containertypes.HostConfig {
		h := &containertypes.HostConfig{}
		f(h)
		return h
	}
	pids := int64(-1)
	tests := []struct {
		name string
		cfg  *containertypes.Config
		host *containertypes.HostConfig
		err  string // "" for valid
	}{
		{name: "minimal", cfg: cfg(nil)},
		{name: "full", cfg: cfg(func(c *containertypes.Config) {
			c.WorkingDir, c.StopSignal, c.Env = "/srv", "SIGINT", []string{"A=1", "B"}
			c.Healthcheck = &containertypes.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second}
		}), host: host(func(h *containertypes.HostConfig) {
			h.RestartPolicy = containertypes.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}
			h.PortBindings = network.PortMap{tcp80: {{HostPort: "8080-8090"}}}
			h.Memory, h.MemoryReservation, h.NanoCPUs, h.CPUShares, h.PidsLimit = 64<<20, 32<<20, 5e8, 512, &pids
			h.Ulimits = []*containertypes.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}
			h.CapAdd, h.CapDrop = []string{"NET_ADMIN", "cap_sys_time"}, []string{"ALL"}
			h.ExtraHosts = []string{"db:10.0.0.2", "gw=host-gateway"}
			h.Tmpfs = map[string]string{"/run": "size=64m,mode=1777"}
			h.Binds = []string{"/tmp:/data:ro", "cache:/cache"}
		})},
		{name: "container network", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.NetworkMode = "container:other" })},
		{name: "dns with container network", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.NetworkMode, h.ExtraHosts = "container:other", []string{"a:10.0.0.1"}
		}), err: "conflicting options: dns and the network mode"},
		{name: "no config", err: "config cannot be empty"},
		{name: "no image", cfg: &containertypes.Config{}, err: "Config.Image: an image is required"},
		{name: "relative workdir", cfg: cfg(func(c *containertypes.Config) { c.WorkingDir = "srv" }),
			err: "the working directory 'srv' is invalid, it needs to be an absolute path"},
		{name: "bad stop signal", cfg: cfg(func(c *containertypes.Config) { c.StopSignal = "SIGNOPE" }), err: "invalid stop signal: SIGNOPE"},
		{name: "env without a name", cfg: cfg(func(c *containertypes.Config) { c.Env = []string{"=x"} }), err: "invalid environment variable"},
		{name: "health interval", cfg: cfg(func(c *containertypes.Config) { c.Healthcheck = &containertypes.HealthConfig{Interval: 3} }),
			err: "Interval in Healthcheck cannot be less than 1ms"},
		{name: "health retries", cfg: cfg(func(c *containertypes.Config) { c.Healthcheck = &containertypes.HealthConfig{Retries: -1} }),
			err: "Retries in Healthcheck cannot be negative"},
		{name: "unknown restart policy", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.RestartPolicy.Name = "sometimes" }),
			err: "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{name: "retries with always", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.RestartPolicy = containertypes.RestartPolicy{Name: "always", MaximumRetryCount: 2}
		}), err: "maximum retry count can only be used with 'on-failure'"},
		{name: "autoremove with restart", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.AutoRemove, h.RestartPolicy.Name = true, "always"
		}), err: "can't create 'AutoRemove' container with restart policy"},
		{name: "bad host port", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.PortBindings = network.PortMap{tcp80: {{HostPort: "eighty"}}}
		}), err: `invalid host port "eighty" for port 80/tcp`},
		{name: "ports with host network", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.NetworkMode, h.PortBindings = "host", network.PortMap{tcp80: {{HostPort: "80"}}}
		}), err: "conflicting options: port publishing and the container type network mode"},
		{name: "container network without a container", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.NetworkMode = "container:" }),
			err: "container:<name|id> needs a container"},
		{name: "memory too small", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.Memory = 1024 }),
			err: "Minimum memory limit allowed is 6MB"},
		{name: "reservation over limit", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.Memory, h.MemoryReservation = 64<<20, 128<<20 }),
			err: "Minimum memory limit can not be less than memory reservation limit"},
		{name: "too many CPUs", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.NanoCPUs = 3e9 }),
			err: "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"},
		{name: "nano CPUs and quota", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.NanoCPUs, h.CPUQuota = 1e9, 50000 }),
			err: "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{name: "CPU period", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.CPUPeriod = 10 }), err: "CPU cfs period can not be less than 1ms"},
		{name: "negative shares", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.CPUShares = -2 }), err: "invalid CPU shares (-2)"},
		{name: "unknown ulimit", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.Ulimits = []*containertypes.Ulimit{{Name: "wings", Soft: 1, Hard: 1}}
		}), err: "invalid ulimit type: wings"},
		{name: "ulimit soft over hard", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.Ulimits = []*containertypes.Ulimit{{Name: "nofile", Soft: 10, Hard: 1}}
		}), err: "ulimit soft limit must be less than or equal to hard limit: 10 > 1"},
		{name: "unknown capability", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.CapAdd = []string{"FLY"} }),
			err: `unknown capability: "CAP_FLY"`},
		{name: "bad extra host", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.ExtraHosts = []string{"db:not-an-ip"} }),
			err: `invalid IP address in add-host: "not-an-ip"`},
		{name: "other log driver", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.LogConfig.Type = "syslog" }),
			err: `logging driver "syslog" is not available on this node`},
		{name: "bad log opt", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.LogConfig.Config = map[string]string{"max-file": "0"} }),
			err: "HostConfig.LogConfig.Config: max-file cannot be less than 1"},
		{name: "bad bind", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.Binds = []string{"/tmp:data"} }),
			err: "mount path must be absolute"},
		{name: "duplicate mount", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.Binds = []string{"/tmp:/data"}
			h.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "/data/"}}
		}), err: "Duplicate mount point: /data"},
		{name: "links", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.Links = []string{"db:db"} }),
			err: "HostConfig.Links is supported only on a user-defined network"},
		{name: "links on a user-defined network", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.Links, h.NetworkMode = []string{"db:db"}, "front" })},
		{name: "host user namespace", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.UsernsMode = "host" })},
		{name: "other user namespace", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.UsernsMode = "private" }),
			err: `HostConfig.UsernsMode "private" is not supported by this node: leave it unset or use "host"`},
		{name: "pid mode", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) { h.PidMode = "container:x" }),
			err: `HostConfig.PidMode "container:x" is not supported by this node: leave it unset or use "host"`},
		{name: "devices", cfg: cfg(nil), host: host(func(h *containertypes.HostConfig) {
			h.Devices = []containertypes.DeviceMapping{{PathOnHost: "/dev/fuse"}}
		}), err: "HostConfig.Devices is not supported by this node yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.cfg, tt.host, 2)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want valid", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.Is(err, errdefs.KindInvalid) {
				t.Fatalf("Validate: %v; want invalid %q", err, tt.err)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	h := containertypes.HostConfig{NetworkMode: "default"}
	WithDefaults(&h)
	if h.NetworkMode != "bridge" || h.RestartPolicy.Name != "no" || h.LogConfig.Type != "json-file" || h.ShmSize != 64<<20 {
		t.Fatalf("WithDefaults gave %q %q %q %d", h.NetworkMode, h.RestartPolicy.Name, h.LogConfig.Type, h.ShmSize)
	}
	h = containertypes.HostConfig{NetworkMode: "host", ShmSize: 1 << 20}
	WithDefaults(&h)
	if h.NetworkMode != "host" || h.ShmSize != 1<<20 {
		t.Fatalf("WithDefaults changed what was set: %q %d", h.NetworkMode, h.ShmSize)
	}
}
