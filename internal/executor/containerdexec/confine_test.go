package containerdexec

import (
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
)

// TestConfineSpec applies the confinement to containerd's default spec,
// the one every container starts from, and checks what Docker's defaults
// give and what each option changes.
func TestConfineSpec(t *testing.T) {
	known := []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
		"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
		"CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_TIME"}
	custom := `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`
	tests := []struct {
		name  string
		host  container.HostConfig
		check func(t *testing.T, s *specs.Spec)
	}{
		{"Docker's defaults", container.HostConfig{}, func(t *testing.T, s *specs.Spec) {
			wantCaps(t, s, slices.Sorted(slices.Values(confine.DefaultCapabilities)))
			if s.Process.NoNewPrivileges {
				t.Error("no_new_privs is set; Docker sets it only when asked")
			}
			for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/sched_debug"} {
				if !slices.Contains(s.Linux.MaskedPaths, p) {
					t.Errorf("%s is not masked (masked: %v)", p, s.Linux.MaskedPaths)
				}
			}
			for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"} {
				if !slices.Contains(s.Linux.ReadonlyPaths, p) {
					t.Errorf("%s is not read-only (read-only: %v)", p, s.Linux.ReadonlyPaths)
				}
			}
			if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
				t.Fatalf("seccomp %+v, want Docker's default profile, which refuses what it does not list", s.Linux.Seccomp)
			}
			for _, call := range []string{"mount", "umount2", "init_module", "finit_module", "settimeofday", "clock_settime", "kexec_load", "reboot", "swapon"} {
				if allows(s.Linux.Seccomp, call) {
					t.Errorf("the default profile allows %s", call)
				}
			}
			for _, call := range []string{"read", "write", "openat", "execve"} {
				if !allows(s.Linux.Seccomp, call) {
					t.Errorf("the default profile refuses %s", call)
				}
			}
			if !readOnly(s, "sysfs") {
				t.Error("/sys is writable")
			}
		}},
		{"added capabilities open their calls", container.HostConfig{CapAdd: []string{"SYS_TIME", "sys_admin"}}, func(t *testing.T, s *specs.Spec) {
			wantCaps(t, s, slices.Sorted(slices.Values(append(slices.Clone(confine.DefaultCapabilities), "CAP_SYS_TIME", "CAP_SYS_ADMIN"))))
			for _, call := range []string{"settimeofday", "clock_settime", "mount", "umount2"} {
				if !allows(s.Linux.Seccomp, call) {
					t.Errorf("with CAP_SYS_TIME and CAP_SYS_ADMIN the profile still refuses %s", call)
				}
			}
			if allows(s.Linux.Seccomp, "init_module") {
				t.Error("without CAP_SYS_MODULE the profile allows init_module")
			}
		}},
		{"dropped capabilities", container.HostConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"CHOWN"}}, func(t *testing.T, s *specs.Spec) {
			wantCaps(t, s, []string{"CAP_CHOWN"})
		}},
		{"no-new-privileges", container.HostConfig{SecurityOpt: []string{"no-new-privileges"}}, func(t *testing.T, s *specs.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Error("no_new_privs is not set")
			}
		}},
		{"seccomp unconfined", container.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp != nil {
				t.Errorf("seccomp %+v, want none", s.Linux.Seccomp)
			}
			wantCaps(t, s, slices.Sorted(slices.Values(confine.DefaultCapabilities)))
		}},
		{"seccomp profile", container.HostConfig{SecurityOpt: []string{"seccomp=" + custom}}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp == nil || !allows(s.Linux.Seccomp, "read") || allows(s.Linux.Seccomp, "write") {
				t.Errorf("seccomp %+v, want the profile given", s.Linux.Seccomp)
			}
		}},
		{"systempaths unconfined", container.HostConfig{SecurityOpt: []string{"systempaths=unconfined"}}, func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.MaskedPaths)+len(s.Linux.ReadonlyPaths) > 0 {
				t.Errorf("masked %v, read-only %v; want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
		}},
		{"privileged", container.HostConfig{Privileged: true, CapDrop: []string{"ALL"}}, func(t *testing.T, s *specs.Spec) {
			wantCaps(t, s, known)
			if s.Linux.Seccomp != nil {
				t.Errorf("seccomp %+v, want none", s.Linux.Seccomp)
			}
			if len(s.Linux.MaskedPaths)+len(s.Linux.ReadonlyPaths) > 0 {
				t.Errorf("masked %v, read-only %v; want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			if readOnly(s, "sysfs") {
				t.Error("/sys is read-only")
			}
		}},
	}
	ctx := namespaces.WithNamespace(t.Context(), "confine-test")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c"})
			if err != nil {
				t.Fatal(err)
			}
			sec, err := confine.ParseSecurityOpt(tt.host.SecurityOpt)
			if err != nil {
				t.Fatal(err)
			}
			confineSpec(s, &tt.host, sec, known, "amd64")
			tt.check(t, s)
		})
	}
}

func wantCaps(t *testing.T, s *specs.Spec, want []string) {
	t.Helper()
	c := s.Process.Capabilities
	for set, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if !slices.Equal(got, want) {
			t.Errorf("%s capabilities %v, want %v", set, got, want)
		}
	}
	if len(c.Inheritable)+len(c.Ambient) > 0 {
		t.Errorf("inheritable %v, ambient %v; want none, as Docker", c.Inheritable, c.Ambient)
	}
}

// allows says whether profile lets a process make call, whatever its
// arguments.
func allows(profile *specs.LinuxSeccomp, call string) bool {
	for _, r := range profile.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, call) {
			return true
		}
	}
	return false
}

func readOnly(s *specs.Spec, fstype string) bool {
	for _, m := range s.Mounts {
		if m.Type == fstype {
			return slices.Contains(m.Options, "ro")
		}
	}
	return false
}
