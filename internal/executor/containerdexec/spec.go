package containerdexec

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/volume"
)

// initInContainer is where the init binary is mounted when a spec asks for
// one, the path Docker uses.
const initInContainer = "/sbin/docker-init"

// containerFiles are the per-container files under the container's
// directory that are bind-mounted over the image's, by target path.
var containerFiles = []struct{ name, target string }{
	{"hostname", "/etc/hostname"},
	{"hosts", "/etc/hosts"},
	{"resolv.conf", "/etc/resolv.conf"},
}

// specOpts returns the options that turn containerd's default spec into
// the container's: its process, its files, mounts, resources, network
// namespace, its confinement. mounts are the spec mounts of the task's mounts; initPath is
// the init binary on the host, needed only when cfg asks for an init;
// remap is the daemon's user-namespace remapping, nil for none.
func specOpts(rec *record, dir string, mounts []specs.Mount, initPath string, remap *confine.Remap) ([]oci.SpecOpts, error) {
	cfg, host := &rec.Config, &rec.HostConfig
	if err := remap.CheckRemapped(host); err != nil {
		return nil, err
	}
	args := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)

	var all []specs.Mount
	for _, f := range containerFiles {
		all = append(all, specs.Mount{
			Destination: f.target,
			Type:        "bind",
			Source:      filepath.Join(dir, f.name),
			Options:     []string{"rbind", "rprivate", "rw"},
		})
	}
	if host.Init != nil && *host.Init {
		if initPath == "" {
			return nil, errdefs.Invalid("the service asks for an init process but this node has no init binary (docker-init or tini)")
		}
		all = append(all, specs.Mount{
			Destination: initInContainer,
			Type:        "bind",
			Source:      initPath,
			Options:     []string{"bind", "ro"},
		})
		args = append([]string{initInContainer, "--"}, args...)
	}
	all = append(all, mounts...)

	opts := []oci.SpecOpts{
		oci.WithDefaultUnixDevices,
		oci.WithoutRunMount,
		oci.WithProcessArgs(args...),
		oci.WithEnv(processEnv(cfg)),
		oci.WithProcessCwd(cmp.Or(cfg.WorkingDir, "/")),
		oci.WithHostname(cfg.Hostname),
		oci.WithMounts(all),
	}
	if cfg.User != "" {
		opts = append(opts, withUser(cfg.User), oci.WithAdditionalGIDs(userName(cfg.User)))
	} else {
		opts = append(opts, oci.WithAdditionalGIDs("root"))
	}
	if len(host.GroupAdd) > 0 {
		opts = append(opts, oci.WithAppendAdditionalGroups(host.GroupAdd...))
	}
	if cfg.Tty {
		opts = append(opts, oci.WithTTY)
	}
	if host.ReadonlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if rec.SandboxKey != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: rec.SandboxKey}))
	}
	if remap.Remapped(host) {
		opts = append(opts, oci.WithUserNamespace(remap.UIDs, remap.GIDs))
		if rec.UsernsKey != "" {
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UserNamespace, Path: rec.UsernsKey}))
		}
		opts = append(opts, confine.WithRemappedMounts)
	}
	opts = append(opts, resourceOpts(host)...)
	confined, err := confineOpts(host)
	if err != nil {
		return nil, err
	}
	return append(opts, confined...), nil
}

// withUser sets the process's user, looked up in the image's /etc/passwd
// and /etc/group when given by name, and says which user could not be.
func withUser(user string) oci.SpecOpts {
	set := oci.WithUser(user)
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *specs.Spec) error {
		if err := set(ctx, client, c, s); err != nil {
			return errdefs.Invalid("unable to find user %s: %v", user, err)
		}
		return nil
	}
}

// userName is the user part of a "user:group" spec.
func userName(user string) string {
	u, _, _ := strings.Cut(user, ":")
	return u
}

// resourceOpts sets the cgroup limits, sysctls, rlimits and OOM score of
// host.
func resourceOpts(host *container.HostConfig) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if host.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(host.Memory)))
	}
	if host.MemoryReservation > 0 {
		opts = append(opts, withMemoryReservation(host.MemoryReservation))
	}
	if host.CPUQuota > 0 {
		opts = append(opts, oci.WithCPUCFS(host.CPUQuota, uint64(host.CPUPeriod)))
	}
	if host.PidsLimit != nil && *host.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(*host.PidsLimit))
	}
	for _, u := range host.Ulimits {
		opts = append(opts, oci.WithRlimit(&specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name),
			Hard: uint64(u.Hard),
			Soft: uint64(u.Soft),
		}))
	}
	if len(host.Sysctls) > 0 || host.OomScoreAdj != 0 {
		sysctls, score := host.Sysctls, host.OomScoreAdj
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
			if len(sysctls) > 0 {
				if s.Linux.Sysctl == nil {
					s.Linux.Sysctl = make(map[string]string)
				}
				for k, v := range sysctls {
					s.Linux.Sysctl[k] = v
				}
			}
			if score != 0 {
				s.Process.OOMScoreAdj = &score
			}
			return nil
		})
	}
	return opts
}

func withMemoryReservation(bytes int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if s.Linux.Resources.Memory == nil {
			s.Linux.Resources.Memory = &specs.LinuxMemory{}
		}
		s.Linux.Resources.Memory.Reservation = &bytes
		return nil
	}
}

// volumeUse is a volume a container mounts: its name, what it is made
// with when it does not exist, and whether it is filled with the image's
// content at its target.
type volumeUse struct {
	name      string
	opts      volume.CreateOptions
	target    string
	subpath   string // the directory of the volume the container sees; "" for all of it
	anonymous bool
	copyImage bool
}

// resolveMounts turns a task's mounts into OCI mounts, the mount points
// docker inspect shows, and the volumes the container uses. A volume is
// its directory VOLUMES/NAME/_data, as in Docker's local driver; an
// anonymous volume is named after the container and its target, so that
// preparing the same container again finds it.
func resolveMounts(id string, ms []mount.Mount, volumes string) ([]specs.Mount, []container.MountPoint, []volumeUse, error) {
	var (
		out    []specs.Mount
		points []container.MountPoint
		uses   []volumeUse
	)
	for _, m := range ms {
		if !path.IsAbs(m.Target) {
			return nil, nil, nil, errdefs.Invalid("invalid mount config: target %q is not an absolute path", m.Target)
		}
		rw := "rw"
		if m.ReadOnly {
			rw = "ro"
		}
		switch m.Type {
		case mount.TypeBind:
			if !filepath.IsAbs(m.Source) {
				return nil, nil, nil, errdefs.Invalid("invalid mount config for type \"bind\": invalid mount path: %q must be an absolute path", m.Source)
			}
			propagation, bind := mount.PropagationRPrivate, "rbind"
			if o := m.BindOptions; o != nil {
				if o.Propagation != "" {
					propagation = o.Propagation
				}
				if o.NonRecursive {
					bind = "bind"
				}
			}
			out = append(out, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: []string{bind, string(propagation), rw}})
			points = append(points, container.MountPoint{Type: mount.TypeBind, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly, Propagation: propagation})
		case mount.TypeVolume:
			use := volumeUse{name: m.Source, target: m.Target, copyImage: true}
			if use.name == "" {
				use.name, use.anonymous = anonymousVolume(id, m.Target), true
				use.opts.Labels = map[string]string{volume.AnonymousLabel: ""}
			}
			if err := volume.ValidateName(use.name); err != nil {
				return nil, nil, nil, errdefs.Invalid("invalid mount config for type \"volume\": %v", err)
			}
			source := filepath.Join(volumes, use.name, "_data")
			if o := m.VolumeOptions; o != nil {
				if d := o.DriverConfig; d != nil {
					if err := volume.ValidateDriver(d.Name); err != nil {
						return nil, nil, nil, err
					}
					use.opts.Driver, use.opts.Options = d.Name, d.Options
				}
				if len(o.Labels) > 0 {
					use.opts.Labels = o.Labels
				}
				use.copyImage = !o.NoCopy && o.Subpath == ""
				if o.Subpath != "" {
					use.subpath = filepath.Clean("/" + o.Subpath)
					source = filepath.Join(source, use.subpath)
				}
			}
			out = append(out, specs.Mount{Destination: m.Target, Type: "bind", Source: source, Options: []string{"rbind", "rprivate", rw}})
			points = append(points, container.MountPoint{Type: mount.TypeVolume, Name: use.name, Source: source, Destination: m.Target, Driver: volume.DriverLocal, RW: !m.ReadOnly})
			uses = append(uses, use)
		case mount.TypeTmpfs:
			opts := []string{"nosuid", "nodev", "noexec", rw}
			if o := m.TmpfsOptions; o != nil {
				if o.SizeBytes > 0 {
					opts = append(opts, fmt.Sprintf("size=%d", o.SizeBytes))
				}
				if o.Mode != 0 {
					// Docker passes the number as given (0o1777 for a sticky /tmp).
					opts = append(opts, fmt.Sprintf("mode=%o", uint32(o.Mode)))
				}
			}
			out = append(out, specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
			points = append(points, container.MountPoint{Type: mount.TypeTmpfs, Destination: m.Target, RW: !m.ReadOnly})
		default:
			return nil, nil, nil, errdefs.Invalid("mount type %q is not supported", m.Type)
		}
	}
	return out, points, uses, nil
}

// anonymousVolume names the volume of container id at target that the
// spec gave no name: stable, so that preparing the container again finds
// it, and recognizable, so that removing the container removes it, as
// Docker does with anonymous volumes of swarm tasks.
func anonymousVolume(id, target string) string {
	sum := sha256.Sum256([]byte(id + ":" + target))
	return hex.EncodeToString(sum[:])
}

// checkBindSources checks that the sources of a container's bind mounts
// exist, and creates as directories those missing that the spec asks to
// create. A source that exists is bound as it is, a file or a socket
// included (-v /var/run/docker.sock:/var/run/docker.sock).
func checkBindSources(ms []mount.Mount) error {
	for _, m := range ms {
		if m.Type != mount.TypeBind {
			continue
		}
		_, err := os.Stat(m.Source)
		if o := m.BindOptions; errors.Is(err, fs.ErrNotExist) && o != nil && o.CreateMountpoint {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return errdefs.Invalid("invalid mount config for type \"bind\": create bind source %s: %v", m.Source, err)
			}
			_, err = os.Stat(m.Source)
		}
		if err != nil {
			return errdefs.Invalid("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source)
		}
	}
	return nil
}
