package confine

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWithRemappedMounts(t *testing.T) {
	spec := func(netnsPath string) *specs.Spec {
		return &specs.Spec{
			Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: netnsPath}}},
			Mounts: []specs.Mount{
				{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
				{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			},
		}
	}
	s := spec("/run/shoal/netns/c")
	if err := WithRemappedMounts(t.Context(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if m := s.Mounts[0]; m.Type != "bind" || m.Source != "/sys" || !slices.Contains(m.Options, "ro") || !slices.Contains(m.Options, "rbind") {
		t.Errorf("sysfs in a netns the node made: %+v; want the host's /sys bound read-only", m)
	}
	if m := s.Mounts[1]; slices.Contains(m.Options, "ro") {
		t.Errorf("cgroup mount: %+v; want it without ro, as dockerd under remapping", m)
	}
	s = spec("")
	if err := WithRemappedMounts(t.Context(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if m := s.Mounts[0]; m.Type != "sysfs" {
		t.Errorf("sysfs in a netns of the container's own: %+v; want it left a sysfs", m)
	}
	s = spec("/run/shoal/netns/c")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/run/shoal/userns/c"})
	if err := WithRemappedMounts(t.Context(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if m := s.Mounts[0]; m.Type != "sysfs" {
		t.Errorf("sysfs in a netns joined with the user namespace owning it: %+v; want it left a sysfs", m)
	}
	s = spec("")
	s.Linux.Namespaces = nil
	if err := WithRemappedMounts(t.Context(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if m := s.Mounts[0]; m.Type != "bind" || m.Source != "/sys" {
		t.Errorf("sysfs in the host's netns: %+v; want the host's /sys bound read-only", m)
	}
}
