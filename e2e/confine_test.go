package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// confineProbe tries, inside a container, what Docker's defaults forbid
// and prints one NAME=RESULT line each: ok, EPERM, EINVAL, or what else
// happened. Nothing it tries changes the host when it succeeds: the mount
// is in the container's mount namespace, the module is not one, and
// adjtimex is asked for a tick the kernel refuses after it has checked
// CAP_SYS_TIME (EPERM without it, EINVAL with it), so the host's clock is
// never touched.
const confineProbe = `
try() { name=$1; shift
  if out=$("$@" 2>&1); then echo "$name=ok"; else
    case $out in *"not permitted"*|*"permission denied"*) echo "$name=EPERM";; *"nvalid argument"*) echo "$name=EINVAL";; *"does not support"*) echo "$name=ENOSYS";; *) echo "$name=other: $out";; esac
  fi; }
echo garbage > /tmp/m.ko
try insmod insmod /tmp/m.ko
try settime adjtimex -t 1
try mkdir mkdir /tmp/d
try mount mount -t tmpfs none /tmp
echo capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
echo seccomp=$(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/self/status)
echo nnp=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/self/status)
echo keys=$(ls -l /proc/keys | cut -c1)
echo firmware=$(ls /sys/firmware | wc -l)
echo timerlist=$(wc -c < /proc/timer_list)
echo procsys=$(awk '$2 == "/proc/sys" { split($4, o, ","); print o[1] }' /proc/mounts)
echo hostpids=$(ls /proc | grep -c '^[0-9]' | awk '{ print ($1 > 20) ? "visible" : "hidden" }')
`

// dockerDefault is what the probe prints in a container Docker runs with
// its defaults: the 14 default capabilities (CapEff a80425fb), the
// default seccomp filter, /proc/keys masked by /dev/null (a character
// device, "c"), /sys/firmware by an empty directory, /proc/timer_list
// empty, /proc/sys
// read-only, the container's own PID namespace.
var dockerDefault = map[string]string{
	"mount":     "EPERM",
	"insmod":    "EPERM",
	"settime":   "EPERM",
	"mkdir":     "ok",
	"capeff":    "00000000a80425fb",
	"seccomp":   "2",
	"nnp":       "0",
	"keys":      "c",
	"firmware":  "0",
	"timerlist": "0",
	"procsys":   "ro",
	"hostpids":  "hidden",
}

// with is dockerDefault with some results changed; a result changed to
// "" is not checked.
func with(changes ...string) map[string]string {
	m := make(map[string]string, len(dockerDefault))
	for k, v := range dockerDefault {
		m[k] = v
	}
	for i := 0; i+1 < len(changes); i += 2 {
		m[changes[i]] = changes[i+1]
		if changes[i+1] == "" {
			delete(m, changes[i])
		}
	}
	return m
}

// withoutSeccomp is what changes without the default seccomp filter:
// loading a module is then refused by the kernel's capability check
// (EPERM) or, on a kernel built without modules such as this test
// machine's, not there at all (ENOSYS), so it is not checked.
const withoutSeccomp = "insmod"

// TestConfinement runs the probe in task containers and plain ones with
// the real runtime, and checks that each is confined as Docker confines
// it with the same options: cannot mount, load a module, set the clock or
// see the host's processes; /proc/keys, /proc/timer_list and /sys/firmware
// masked (this test machine's kernel has no /proc/kcore to mask),
// /proc/sys read-only; and that --cap-add, --cap-drop, --privileged and
// --security-opt change exactly what they change under Docker.
func TestConfinement(t *testing.T) {
	d := StartDaemon(t)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	initSwarm(t, d)
	t.Cleanup(func() {
		if ids, _ := d.TryDocker("ps", "-aq", "--filter", "is-task=false"); strings.TrimSpace(ids) != "" {
			d.TryDocker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
	})
	// A profile as Docker writes them that refuses mkdir and allows the rest.
	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(`{
		"defaultAction": "SCMP_ACT_ALLOW",
		"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
	}`), 0o644); err != nil {
		t.Fatal(err)
	}

	services := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"default", nil, dockerDefault},
		{"captime", []string{"--cap-add", "SYS_TIME"}, with("settime", "EINVAL", "capeff", "00000000aa0425fb")},
		{"capnone", []string{"--cap-drop", "ALL"}, with("capeff", "0000000000000000")},
	}
	for _, s := range services {
		args := append([]string{"service", "create", "-d", "--no-resolve-image", "--name", "confine-" + s.name}, s.args...)
		d.Docker(append(args, "busybox", "sleep", "3600")...)
	}
	for _, s := range services {
		t.Run("task "+s.name, func(t *testing.T) {
			id := waitContainers(t, d, "confine-"+s.name, 1)[0]
			checkProbe(t, d.Docker("exec", id, "sh", "-c", confineProbe), s.want)
		})
	}

	for _, tt := range []struct {
		name string
		args []string
		want map[string]string
	}{
		{"default", nil, dockerDefault},
		{"cap-add SYS_TIME", []string{"--cap-add", "SYS_TIME"}, with("settime", "EINVAL", "capeff", "00000000aa0425fb")},
		{"cap-add SYS_ADMIN lets it mount", []string{"--cap-add", "SYS_ADMIN"}, with("mount", "ok", "capeff", "00000000a82425fb")},
		{"no-new-privileges", []string{"--security-opt", "no-new-privileges"}, with("nnp", "1")},
		{"seccomp unconfined", []string{"--security-opt", "seccomp=unconfined"}, with("seccomp", "0", withoutSeccomp, "")},
		{"seccomp profile", []string{"--security-opt", "seccomp=" + profile}, with("mkdir", "EPERM", withoutSeccomp, "")},
		{"privileged", []string{"--privileged"}, nil},
	} {
		t.Run("container "+tt.name, func(t *testing.T) {
			out := d.Docker(append(append([]string{"run", "--rm"}, tt.args...), "busybox", "sh", "-c", confineProbe)...)
			if tt.want != nil {
				checkProbe(t, out, tt.want)
				return
			}
			got := probeResults(out)
			if got["mount"] != "ok" || got["seccomp"] != "0" || got["keys"] == "c" || got["firmware"] == "0" || got["procsys"] == "ro" {
				t.Errorf("privileged container: %v; want mount ok, no seccomp, nothing masked, /proc/sys not read-only", got)
			}
		})
	}

	t.Run("userns-remap", testUsernsRemap)

	t.Run("bad security options are refused", func(t *testing.T) {
		noDefaultAction := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(noDefaultAction, []byte(`{"syscalls": []}`), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, opt := range []string{"apparmor=docker-default", "label=type:svirt_t", "seccomp=" + noDefaultAction, "nonsense=1"} {
			if out, err := d.TryDocker("create", "--security-opt", opt, "busybox"); err == nil || !strings.Contains(out, "SecurityOpt") {
				t.Errorf("create --security-opt %s: err %v, %q; want it refused naming SecurityOpt", opt, err, out)
			}
		}
		if out, err := d.TryDocker("service", "create", "-d", "--no-resolve-image", "--cap-add", "FLY", "busybox"); err == nil || !strings.Contains(out, "CAP_FLY") {
			t.Errorf("service create --cap-add FLY: err %v, %q; want it refused naming CAP_FLY", err, out)
		}
	})
}

func probeResults(out string) map[string]string {
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}

func checkProbe(t *testing.T, out string, want map[string]string) {
	t.Helper()
	got := probeResults(out)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	if t.Failed() {
		t.Logf("probe printed:\n%s", out)
	}
}
