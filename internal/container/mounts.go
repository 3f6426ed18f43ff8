package container

import (
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// validVolumeName is Docker's rule for volume names.
func validVolumeName(name string) bool { return validName.MatchString(name) }

// Mounts returns every mount of a container, in Docker's order of
// precedence and checked: HostConfig.Binds ("SRC:DST[:OPTS]", SRC a host
// path or a volume name), HostConfig.Mounts, HostConfig.Tmpfs, then an
// anonymous volume for each path of Config.Volumes (the request's and the
// image's) that nothing else is mounted on. Two mounts on one path are
// refused, with Docker's message.
//
// A volume mount's Source is its name, empty for an anonymous volume:
// what backs it is the engine's choice.
func Mounts(cfg *containertypes.Config, host *containertypes.HostConfig) ([]mount.Mount, error) {
	var out []mount.Mount
	seen := map[string]bool{}
	add := func(m mount.Mount) error {
		target := path.Clean(m.Target)
		if seen[target] {
			return errdefs.Invalid("Duplicate mount point: %s", target)
		}
		seen[target] = true
		m.Target = target
		out = append(out, m)
		return nil
	}
	for _, b := range host.Binds {
		m, err := parseBind(b)
		if err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, m := range host.Mounts {
		if err := checkMount(m); err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, target := range slices.Sorted(maps.Keys(host.Tmpfs)) {
		m, err := parseTmpfs(target, host.Tmpfs[target])
		if err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, v := range slices.Sorted(maps.Keys(cfg.Volumes)) {
		if !path.IsAbs(v) {
			return nil, errdefs.Invalid("invalid volume specification: '%s': the path in the container must be absolute", v)
		}
		if seen[path.Clean(v)] {
			continue
		}
		if err := add(mount.Mount{Type: mount.TypeVolume, Target: v}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseBind reads a -v bind: "SRC:DST[:OPTS]".
func parseBind(spec string) (mount.Mount, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return mount.Mount{}, errdefs.Invalid("invalid volume specification: '%s': want SOURCE:DESTINATION[:OPTIONS]", spec)
	}
	src, dst := parts[0], parts[1]
	if !path.IsAbs(dst) {
		return mount.Mount{}, errdefs.Invalid("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", spec, dst)
	}
	if path.Clean(dst) == "/" {
		return mount.Mount{}, errdefs.Invalid("invalid volume specification: '%s': invalid specification: destination can't be '/'", spec)
	}
	m := mount.Mount{Type: mount.TypeVolume, Source: src, Target: dst}
	if path.IsAbs(src) {
		// A -v bind makes its host directory when missing, unlike --mount.
		m.Type, m.Source = mount.TypeBind, path.Clean(src)
		m.BindOptions = &mount.BindOptions{CreateMountpoint: true}
	} else if !validVolumeName(src) {
		return mount.Mount{}, errdefs.Invalid("invalid volume specification: '%s': %q is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)", spec, src)
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				m.ReadOnly = true
			case "rw", "z", "Z", "":
			case "nocopy":
				if m.Type != mount.TypeVolume {
					return mount.Mount{}, errdefs.Invalid("invalid volume specification: '%s': nocopy is for volumes only", spec)
				}
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				if m.Type != mount.TypeBind {
					return mount.Mount{}, errdefs.Invalid("invalid volume specification: '%s': propagation %s is for bind mounts only", spec, o)
				}
				m.BindOptions.Propagation = mount.Propagation(o)
			default:
				return mount.Mount{}, errdefs.Invalid("invalid volume specification: '%s': unknown option %q", spec, o)
			}
		}
	}
	return m, nil
}

// checkMount checks a --mount, as dockerd does at create; that a bind
// source exists is the executor's to check.
func checkMount(m mount.Mount) error {
	if !path.IsAbs(m.Target) {
		return errdefs.Invalid("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", m.Type, m.Target)
	}
	switch m.Type {
	case mount.TypeBind:
		if !path.IsAbs(m.Source) {
			return errdefs.Invalid("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", m.Source)
		}
	case mount.TypeVolume:
		if m.Source != "" && !validVolumeName(m.Source) {
			return errdefs.Invalid("invalid mount config for type \"volume\": invalid volume name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]+", m.Source)
		}
		if o := m.VolumeOptions; o != nil && o.DriverConfig != nil && o.DriverConfig.Name != "" && o.DriverConfig.Name != "local" {
			return errdefs.Invalid("invalid mount config for type \"volume\": volume driver %q is not available on this node", o.DriverConfig.Name)
		}
	case mount.TypeTmpfs:
		if m.Source != "" {
			return errdefs.Invalid("invalid mount config for type \"tmpfs\": source must not be specified")
		}
	default:
		return errdefs.Invalid("invalid mount config: mount type %q is not supported on this node: use bind, volume or tmpfs", m.Type)
	}
	return nil
}

// parseTmpfs reads a --tmpfs PATH:OPTIONS.
func parseTmpfs(target, options string) (mount.Mount, error) {
	if !path.IsAbs(target) {
		return mount.Mount{}, errdefs.Invalid("invalid tmpfs mount %q: the path must be absolute", target)
	}
	m := mount.Mount{Type: mount.TypeTmpfs, Target: target, TmpfsOptions: &mount.TmpfsOptions{}}
	for _, o := range strings.Split(options, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "", "rw":
		case "ro":
			m.ReadOnly = true
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return mount.Mount{}, errdefs.Invalid("invalid tmpfs mount %q: size %q is not a size (64m, 1g)", target, v)
			}
			m.TmpfsOptions.SizeBytes = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return mount.Mount{}, errdefs.Invalid("invalid tmpfs mount %q: mode %q is not an octal file mode", target, v)
			}
			m.TmpfsOptions.Mode = os.FileMode(n)
		default:
			return mount.Mount{}, errdefs.Invalid("invalid tmpfs mount %q: option %q is not supported: use size, mode, ro or rw", target, o)
		}
	}
	return m, nil
}
