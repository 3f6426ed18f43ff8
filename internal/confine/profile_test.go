package confine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDecodeProfileRefuses(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":            `nope`,
		"no default action":   `{"syscalls":[]}`,
		"unknown field":       `{"defaultAction":"SCMP_ACT_ALLOW","defaultActoin":"x"}`,
		"archMap and arches":  `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}`,
		"name and names":      `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}`,
		"no system call":      `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}`,
		"rule without action": `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"]}]}`,
	} {
		if p, err := DecodeProfile([]byte(data)); err == nil {
			t.Errorf("%s: decoded %+v, want an error", name, p)
		}
	}
}

// TestProfileOCI reads a profile written as Docker writes its own: an
// architecture map and rules for some capabilities or architectures.
func TestProfileOCI(t *testing.T) {
	p, err := DecodeProfile([]byte(`{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": [
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
		],
		"syscalls": [
			{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
			{"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["settimeofday"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["SYS_TIME"]}},
			{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
			{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}}
		]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	one := uint(1)
	rule := func(name string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow}
	}
	readWrite := specs.LinuxSyscall{Names: []string{"read", "write"}, Action: specs.ActAllow}
	tests := []struct {
		name   string
		caps   []string
		goarch string
		want   *specs.LinuxSeccomp
	}{
		{"amd64 without capabilities", nil, "amd64", &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno, DefaultErrnoRet: &one,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls:      []specs.LinuxSyscall{readWrite, rule("arch_prctl"), rule("clone"), rule("ptrace")},
		}},
		{"arm64 with CAP_SYS_ADMIN and CAP_SYS_TIME", []string{"CAP_SYS_ADMIN", "CAP_SYS_TIME"}, "arm64", &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno, DefaultErrnoRet: &one,
			Architectures: []specs.Arch{specs.ArchAARCH64, specs.ArchARM},
			Syscalls:      []specs.LinuxSyscall{readWrite, rule("mount"), rule("settimeofday"), rule("ptrace")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, p.OCI(tt.caps, tt.goarch)); diff != "" {
				t.Errorf("OCI profile (-want +got):\n%s", diff)
			}
		})
	}
}
