package containerdexec

import (
	"context"
	"runtime"
	"slices"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// confineOpts confine a container as Docker does (see confineSpec). They
// must come after every other option: the seccomp profile depends on the
// capabilities, and privileges undo the runtime's defaults.
func confineOpts(host *container.HostConfig) ([]oci.SpecOpts, error) {
	sec, err := confine.ParseSecurityOpt(host.SecurityOpt)
	if err != nil {
		return nil, err
	}
	known := cap.Known()
	if host.Privileged {
		// What the daemon itself holds: a privileged container can have
		// no more.
		current, err := cap.Current()
		if err != nil {
			return nil, errdefs.Unavailable("read the daemon's capabilities: %v", err)
		}
		known = current
	}
	opts := []oci.SpecOpts{func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		confineSpec(s, host, sec, known, runtime.GOARCH)
		return nil
	}}
	if host.Privileged {
		opts = append(opts, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	}
	return opts, nil
}

// confineSpec sets the capabilities, no_new_privs, masked and read-only
// paths and seccomp profile of s as dockerd does for host and its parsed
// security options sec: Docker's default capabilities adjusted by
// CapAdd/CapDrop, Docker's masked and read-only /proc and /sys paths,
// Docker's default seccomp profile (or the one given, or none); a
// privileged container gets every capability in known, writable /sys and
// cgroups, no masked paths and no seccomp filter.
func confineSpec(s *specs.Spec, host *container.HostConfig, sec confine.Options, known []string, goarch string) {
	caps := confine.Capabilities(known, host.Privileged, host.CapAdd, host.CapDrop)
	if s.Process.Capabilities == nil {
		s.Process.Capabilities = &specs.LinuxCapabilities{}
	}
	// No inheritable or ambient set, as dockerd since CVE-2022-24769.
	s.Process.Capabilities.Bounding = caps
	s.Process.Capabilities.Effective = caps
	s.Process.Capabilities.Permitted = caps
	s.Process.Capabilities.Inheritable = nil
	s.Process.Capabilities.Ambient = nil
	s.Process.NoNewPrivileges = sec.NoNewPrivileges

	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	switch {
	case host.Privileged:
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		for i, m := range s.Mounts {
			if m.Type == "sysfs" || m.Type == "cgroup" || m.Type == "cgroup2" {
				s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
	case sec.UnmaskSystemPaths:
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	default:
		// Docker's lists, with what the runtime adds to them (containerd
		// masks each CPU's thermal throttle directory, as dockerd does).
		s.Linux.MaskedPaths = union(confine.MaskedPaths, s.Linux.MaskedPaths)
		s.Linux.ReadonlyPaths = union(confine.ReadonlyPaths, s.Linux.ReadonlyPaths)
	}

	switch {
	case host.Privileged, sec.Seccomp == confine.SeccompUnconfined:
		s.Linux.Seccomp = nil
	case sec.Seccomp == confine.SeccompCustom:
		s.Linux.Seccomp = sec.Profile.OCI(caps, goarch)
	default:
		// containerd's default profile is dockerd's, and like it opens
		// the calls a granted capability is for (mount with
		// CAP_SYS_ADMIN, settimeofday with CAP_SYS_TIME, ...).
		s.Linux.Seccomp = seccomp.DefaultProfile(s)
	}
}

// union is a followed by the elements of b not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
