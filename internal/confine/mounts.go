package confine

import (
	"context"
	"slices"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithRemappedMounts adjusts the mounts of a container in a remapped user
// namespace to what the kernel lets its root mount. A sysfs can be
// mounted only by a user namespace that owns the network namespace: one
// runc makes, or one the container joins together with the user
// namespace owning it. The host's network namespace (no network namespace
// in the spec, as a build step has) or one joined alone (the host's user
// namespace owns both) gets the host's /sys bound read-only instead, as
// runtimes do when sysfs is refused. The cgroup mount loses its read-only
// flag, as dockerd's does under remapping: a remount read-only is refused
// in a user namespace.
func WithRemappedMounts(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
	newNetns, joinNetns, joinUserns := false, false, false
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			switch {
			case ns.Type == specs.NetworkNamespace && ns.Path == "":
				newNetns = true
			case ns.Type == specs.NetworkNamespace:
				joinNetns = true
			case ns.Type == specs.UserNamespace && ns.Path != "":
				joinUserns = true
			}
		}
	}
	ownNetns := newNetns || joinNetns && joinUserns
	for i, m := range s.Mounts {
		switch {
		case m.Type == "sysfs" && !ownNetns:
			s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		case m.Type == "cgroup":
			s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
		}
	}
	return nil
}
