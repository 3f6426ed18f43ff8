package containerdexec

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/privatecontainerd"
)

func execConfig(stdin bool, cmd ...string) container.ExecCreateRequest {
	return container.ExecCreateRequest{Cmd: cmd, AttachStdin: stdin, AttachStdout: true, AttachStderr: true}
}

func TestDescribe(t *testing.T) {
	e := newExecutor(t, "")
	d, err := e.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname != "testhost" || d.Platform.OS != "linux" || d.Platform.Architecture == "" {
		t.Errorf("got hostname %q platform %+v, want testhost on linux", d.Hostname, d.Platform)
	}
	if d.Resources.NanoCPUs < 1e9 || d.Resources.MemoryBytes < 1<<20 {
		t.Errorf("got resources %+v, want at least a CPU and a MiB", d.Resources)
	}
	if d.Engine.EngineVersion != "test" {
		t.Errorf("got engine version %q, want test", d.Engine.EngineVersion)
	}
}

func TestOutputGoesToLogsByStream(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sh", "-c", "echo out; echo err >&2; echo out2")
	ctl := start(t, e, task)
	if st := wait(t, ctl); st.Code != 0 || st.OOMKilled {
		t.Fatalf("got exit %+v, want 0", st)
	}
	id := ContainerID(task.ID)

	got := readLogs(t, e, id, LogOptions{Stdout: true, Stderr: true, Tail: -1})
	// The streams are separate pipes: only the order within one is kept.
	var stdout, stderr []string
	for _, l := range got {
		if l.Stream == StreamStdout {
			stdout = append(stdout, l.Text)
		} else {
			stderr = append(stderr, l.Text)
		}
	}
	if diff := cmp.Diff([]string{"out\n", "out2\n"}, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"err\n"}, stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if got := readLogs(t, e, id, LogOptions{Stderr: true, Tail: -1}); len(got) != 1 || got[0].Stream != StreamStderr {
		t.Errorf("stderr only: got %v, want the one stderr line", got)
	}
}

func TestExitCode(t *testing.T) {
	e := newExecutor(t, "")
	ctl := start(t, e, newTask("sh", "-c", "exit 3"))
	if st := wait(t, ctl); st.Code != 3 || st.At.IsZero() {
		t.Fatalf("got exit %+v, want code 3 with a time", st)
	}
	// Wait again, after the task was reaped, gives the same.
	if st := wait(t, ctl); st.Code != 3 {
		t.Fatalf("second wait: got code %d, want 3", st.Code)
	}
	cs, err := ctl.ContainerStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cs.ExitCode != 3 || cs.PID != 0 || cs.ContainerID == "" {
		t.Errorf("got container status %+v, want exit code 3 and no PID", cs)
	}
}

func TestShutdownKillsAfterGrace(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sleep", "1000")
	grace := 300 * time.Millisecond
	task.Spec.ContainerSpec.StopGracePeriod = &grace
	ctl := start(t, e, task)
	// sleep as PID 1 has no handler for SIGTERM, so the kernel ignores it:
	// only the SIGKILL after the grace period ends it.
	if err := ctl.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, ctl); st.Code != 137 {
		t.Errorf("got exit code %d, want 137 (SIGKILL)", st.Code)
	}
}

func TestShutdownSendsStopSignal(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sh", "-c", `trap "exit 9" USR1; echo ready; while :; do sleep 0.05; done`)
	task.Spec.ContainerSpec.StopSignal = "SIGUSR1"
	ctl := start(t, e, task)
	id := ContainerID(task.ID)
	// Wait until the trap is set before signalling.
	for !strings.Contains(logText(t, e, id), "ready") {
		time.Sleep(20 * time.Millisecond)
	}
	if err := ctl.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, ctl); st.Code != 9 {
		t.Errorf("got exit code %d, want 9 from the USR1 trap", st.Code)
	}
}

func TestTerminate(t *testing.T) {
	e := newExecutor(t, "")
	ctl := start(t, e, newTask("sleep", "1000"))
	if err := ctl.Terminate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, ctl); st.Code != 137 {
		t.Errorf("got exit code %d, want 137", st.Code)
	}
	// Stopping a stopped container is a no-op.
	if err := ctl.Shutdown(t.Context()); err != nil {
		t.Errorf("shutdown after exit: %v", err)
	}
}

func TestOOMKilled(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sh", "-c", `x=0123456789; while :; do x="$x$x"; done`)
	task.Spec.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: 16 << 20}}
	ctl := start(t, e, task)
	st := wait(t, ctl)
	if !st.OOMKilled || st.Code != 137 {
		t.Errorf("got exit %+v, want OOM-killed with code 137", st)
	}
	ins, err := e.Inspect(t.Context(), ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !ins.State.OOMKilled {
		t.Error("inspect: got OOMKilled false, want true")
	}
}

// TestLimitsAreApplied checks the cgroup of a running container: the
// scheduler's reservations and limits mean nothing unless the kernel
// enforces them.
func TestLimitsAreApplied(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sleep", "1000")
	task.Spec.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: 64 << 20, NanoCPUs: 5e8, Pids: 50}}
	start(t, e, task)
	id := ContainerID(task.ID)
	for _, tt := range []struct{ file, want string }{
		{"memory/" + env.namespace + "/" + id + "/memory.limit_in_bytes", strconv.Itoa(64 << 20)},
		{"cpu/" + env.namespace + "/" + id + "/cpu.cfs_quota_us", "50000"},
		{"cpu/" + env.namespace + "/" + id + "/cpu.cfs_period_us", "100000"},
		{"pids/" + env.namespace + "/" + id + "/pids.max", "50"},
	} {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", tt.file))
		if err != nil {
			t.Errorf("read %s: %v", tt.file, err)
			continue
		}
		if got := strings.TrimSpace(string(b)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.file, got, tt.want)
		}
	}
	ins, err := e.Inspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	h := ins.HostConfig
	if h.Memory != 64<<20 || h.NanoCPUs != 5e8 || h.PidsLimit == nil || *h.PidsLimit != 50 {
		t.Errorf("inspect: got memory %d nano CPUs %d pids %v, want the limits", h.Memory, h.NanoCPUs, h.PidsLimit)
	}
}

func TestContainerFilesAndNetwork(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sleep", "1000")
	task.Spec.ContainerSpec.Hosts = []string{"10.9.9.9 db"}
	start(t, e, task)
	id := ContainerID(task.ID)
	ins, err := e.Inspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	ep := ins.NetworkSettings.Networks["bridge"]
	if ep == nil || !ep.IPAddress.IsValid() || !ep.Gateway.IsValid() || len(ep.MacAddress) == 0 {
		t.Fatalf("got networks %+v, want a bridge endpoint with address, gateway and MAC", ins.NetworkSettings.Networks)
	}

	if out, _ := execOutput(t, e, id, nil, "hostname"); out != id[:12]+"\n" {
		t.Errorf("hostname: got %q, want %q", out, id[:12])
	}
	hosts, _ := execOutput(t, e, id, nil, "cat", "/etc/hosts")
	for _, want := range []string{ep.IPAddress.String() + "\t" + id[:12], "10.9.9.9\tdb"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("/etc/hosts %q lacks %q", hosts, want)
		}
	}
	if out, _ := execOutput(t, e, id, nil, "ip", "-4", "addr", "show", "eth0"); !strings.Contains(out, ep.IPAddress.String()) {
		t.Errorf("eth0 in the container: got %q, want address %s", out, ep.IPAddress)
	}
	if out, _ := execOutput(t, e, id, nil, "grep", "-c", "^nameserver", "/etc/resolv.conf"); out == "0\n" {
		t.Errorf("resolv.conf has no nameserver")
	}
}

func TestMountsUserAndReadOnly(t *testing.T) {
	e := newExecutor(t, "")
	bindDir := t.TempDir()
	os.WriteFile(filepath.Join(bindDir, "in"), []byte("from host"), 0o644)
	task := newTask("sh", "-c", `cat /bind/in; echo; id -u; echo vol > /vol/f; echo tmp > /tmp/t/f && grep -q " /tmp/t tmpfs" /proc/mounts && echo tmpfs; touch /rootfile 2>/dev/null || echo readonly`)
	task.Spec.ContainerSpec.User = "nobody"
	task.Spec.ContainerSpec.ReadOnly = true
	task.Spec.ContainerSpec.Mounts = []mount.Mount{
		{Type: mount.TypeBind, Source: bindDir, Target: "/bind", ReadOnly: true},
		{Type: mount.TypeVolume, Source: "data", Target: "/vol"},
		{Type: mount.TypeTmpfs, Target: "/tmp/t", TmpfsOptions: &mount.TmpfsOptions{Mode: 0o1777}},
	}
	// The volume belongs to root; nobody may write into it only once it
	// is made writable for all, as an admin would.
	volData := filepath.Join(e.cfg.Root, "volumes", "data", "_data")
	os.MkdirAll(volData, 0o777)
	os.Chmod(volData, 0o777)
	ctl := start(t, e, task)
	if st := wait(t, ctl); st.Code != 0 {
		t.Errorf("got exit code %d, want 0; log: %s", st.Code, logText(t, e, ContainerID(task.ID)))
	}
	if got, want := logText(t, e, ContainerID(task.ID)), "from host\n65534\ntmpfs\nreadonly\n"; got != want {
		t.Errorf("got output %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(volData, "f")); err != nil || string(b) != "vol\n" {
		t.Errorf("volume file: got %q, %v; want vol", b, err)
	}
}

func TestBadMountIsRejected(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("true")
	task.Spec.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "/does/not/exist", Target: "/x"}}
	ctl, err := e.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Remove(context.Background()) })
	err = ctl.Prepare(t.Context())
	if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), "bind source path does not exist") {
		t.Fatalf("got %v, want an Invalid error about the bind source", err)
	}
	assertGone(t, e, ContainerID(task.ID))
}

// TestPrepareFailureLeavesNothing fails Prepare after the container's
// snapshot was made: the user cannot be found in the image.
func TestPrepareFailureLeavesNothing(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("true")
	task.Spec.ContainerSpec.User = "nosuchuser"
	ctl, err := e.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Remove(context.Background()) })
	if err := ctl.Prepare(t.Context()); !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), "unable to find user nosuchuser") {
		t.Fatalf("got %v, want an Invalid error naming the user", err)
	}
	assertGone(t, e, ContainerID(task.ID))
}

func TestStartMissingCommand(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("/nonexistent")
	ctl, err := e.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ctl.Remove(context.Background()); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if err := ctl.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "/nonexistent") {
		t.Fatalf("got %v, want an error naming the command", err)
	}
	if _, err := ctl.Wait(t.Context()); !errdefs.Is(err, errdefs.KindPrecondition) {
		t.Errorf("wait: got %v, want Precondition (never started)", err)
	}
}

func TestPrepareNoSuchImage(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("true")
	// Nothing listens on port 1, and there is no route out of the test's
	// network namespace anyway.
	task.Spec.ContainerSpec.Image = "127.0.0.1:1/nosuch:latest"
	ctl, err := e.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Remove(context.Background()) })
	err = ctl.Prepare(t.Context())
	if !errdefs.Is(err, errdefs.KindNotFound) || err.Error() != "No such image: 127.0.0.1:1/nosuch:latest" {
		t.Fatalf("got %v, want NotFound \"No such image: 127.0.0.1:1/nosuch:latest\"", err)
	}
	assertGone(t, e, ContainerID(task.ID))
}

func TestTTY(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sh", "-c", "tty >/dev/null && echo terminal")
	task.Spec.ContainerSpec.TTY = true
	ctl := start(t, e, task)
	if st := wait(t, ctl); st.Code != 0 {
		t.Errorf("got exit code %d, want 0 (a terminal)", st.Code)
	}
	if got := logText(t, e, ContainerID(task.ID)); got != "terminal\r\n" {
		t.Errorf("got output %q, want \"terminal\\r\\n\"", got)
	}
}

func TestLogsFollowEndsWithContainer(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sh", "-c", "echo one; sleep 0.3; echo two; sleep 0.3; echo three")
	start(t, e, task)
	got := readLogs(t, e, ContainerID(task.ID), LogOptions{Stdout: true, Follow: true, Tail: -1})
	want := []logLine{{StreamStdout, "one\n"}, {StreamStdout, "two\n"}, {StreamStdout, "three\n"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("followed logs (-want +got):\n%s", diff)
	}
	// Tail on the finished log.
	got = readLogs(t, e, ContainerID(task.ID), LogOptions{Stdout: true, Tail: 1})
	if diff := cmp.Diff(want[2:], got); diff != "" {
		t.Errorf("tail 1 (-want +got):\n%s", diff)
	}
}

func TestListAndInspect(t *testing.T) {
	e := newExecutor(t, "")
	running := newTask("sleep", "1000")
	running.Spec.ContainerSpec.Labels = map[string]string{"app": "web"}
	running.Spec.ContainerSpec.Env = []string{"A=1"}
	start(t, e, running)
	exited := newTask("true")
	wait(t, start(t, e, exited))
	runID, exitID := ContainerID(running.ID), ContainerID(exited.ID)
	runName := "svc.1." + running.ID

	ids := func(all bool, filters map[string][]string) []string {
		t.Helper()
		list, err := e.List(t.Context(), all, filters)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		all     bool
		filters map[string][]string
		want    []string
	}{
		{"running only", false, nil, []string{runID}},
		{"all, newest first", true, nil, []string{exitID, runID}},
		{"label key", true, map[string][]string{"label": {"app"}}, []string{runID}},
		{"label key=value", true, map[string][]string{"label": {"app=web"}}, []string{runID}},
		{"label wrong value", true, map[string][]string{"label": {"app=db"}}, nil},
		{"swarm label", true, map[string][]string{"label": {LabelTaskID + "=" + exited.ID}}, []string{exitID}},
		{"name", true, map[string][]string{"name": {running.ID}}, []string{runID}},
		{"id prefix", true, map[string][]string{"id": {exitID[:10]}}, []string{exitID}},
		{"status implies all", false, map[string][]string{"status": {"exited"}}, []string{exitID}},
		{"two statuses", false, map[string][]string{"status": {"exited", "running"}}, []string{exitID, runID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(tt.all, tt.filters)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := e.List(t.Context(), true, map[string][]string{"status": {"bogus"}}); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Errorf("bad status filter: got %v, want Invalid", err)
	}

	list, err := e.List(t.Context(), false, nil)
	if err != nil || len(list) != 1 {
		t.Fatalf("got %v, %v; want one container", list, err)
	}
	s := list[0]
	if s.Names[0] != "/"+runName || s.Image != testImage || !strings.HasPrefix(s.ImageID, "sha256:") ||
		s.State != container.StateRunning || !strings.HasPrefix(s.Status, "Up ") || s.Command != "sleep 1000" ||
		s.Labels[LabelServiceName] != "svc" || s.Labels["app"] != "web" {
		t.Errorf("got summary %+v", s)
	}

	for _, ref := range []string{runID, runID[:12], runName, "/" + runName} {
		ins, err := e.Inspect(t.Context(), ref)
		if err != nil {
			t.Fatalf("inspect %s: %v", ref, err)
		}
		if ins.ID != runID {
			t.Errorf("inspect %s: got %s, want %s", ref, ins.ID, runID)
		}
	}
	ins, err := e.Inspect(t.Context(), runName)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Name != "/"+runName || !ins.State.Running || ins.State.Pid == 0 || ins.State.Status != container.StateRunning ||
		ins.Config.Image != testImage || ins.Config.Hostname != runID[:12] || ins.Path != "sleep" ||
		!slices.Contains(ins.Config.Env, "A=1") || ins.Config.Labels[LabelTaskID] != running.ID {
		t.Errorf("got inspect %+v state %+v config %+v", ins, ins.State, ins.Config)
	}
	ins, err = e.Inspect(t.Context(), exitID)
	if err != nil {
		t.Fatal(err)
	}
	if ins.State.Status != container.StateExited || ins.State.Running || ins.State.ExitCode != 0 || ins.State.FinishedAt == "0001-01-01T00:00:00Z" {
		t.Errorf("got exited state %+v", ins.State)
	}

	_, err = e.Inspect(t.Context(), "nosuch")
	if !errdefs.Is(err, errdefs.KindNotFound) || err.Error() != "No such container: nosuch" {
		t.Errorf("got %v, want NotFound \"No such container: nosuch\"", err)
	}
}

func TestExec(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sleep", "1000")
	task.Spec.ContainerSpec.Env = []string{"FROM_SPEC=yes"}
	start(t, e, task)
	id := ContainerID(task.ID)

	for _, tt := range []struct {
		name  string
		cmd   []string
		stdin string
		want  string
		code  int
	}{
		{"echo", []string{"echo", "hi"}, "", "hi\n", 0},
		{"exit code", []string{"sh", "-c", "exit 5"}, "", "", 5},
		{"container env", []string{"sh", "-c", "echo $FROM_SPEC"}, "", "yes\n", 0},
		{"stdin", []string{"cat"}, "piped in", "piped in", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdin io.Reader
			if tt.stdin != "" {
				stdin = strings.NewReader(tt.stdin)
			}
			out, code := execOutput(t, e, id, stdin, tt.cmd...)
			if out != tt.want || code != tt.code {
				t.Errorf("got %q, exit %d; want %q, exit %d", out, code, tt.want, tt.code)
			}
		})
	}

	ttyCfg := execConfig(false, "sh", "-c", "tty >/dev/null && stty size")
	ttyCfg.Tty, ttyCfg.ConsoleSize = true, &[2]uint{30, 100}
	ttyID, err := e.ExecCreate(t.Context(), id, ttyCfg)
	if err != nil {
		t.Fatal(err)
	}
	var ttyOut strings.Builder
	if err := e.ExecStart(t.Context(), ttyID, nil, &ttyOut, nil); err != nil {
		t.Fatal(err)
	}
	if ttyOut.String() != "30 100\r\n" {
		t.Errorf("exec with a terminal: got %q, want the console size from a terminal", ttyOut.String())
	}

	// Detached, as docker exec -d: nothing attached.
	detached, err := e.ExecCreate(t.Context(), id, container.ExecCreateRequest{Cmd: []string{"sh", "-c", "echo x; echo y >&2; exit 6"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ExecStart(t.Context(), detached, nil, nil, nil); err != nil {
		t.Fatalf("detached exec: %v", err)
	}
	if ins, err := e.ExecInspect(t.Context(), detached); err != nil || ins.ExitCode == nil || *ins.ExitCode != 6 {
		t.Errorf("detached exec: got %+v, %v; want exit code 6", ins, err)
	}

	missing, err := e.ExecCreate(t.Context(), id, execConfig(false, "/nonexistent"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ExecStart(t.Context(), missing, nil, io.Discard, io.Discard); err == nil {
		t.Error("exec of a missing command: got no error")
	}
	if ins, err := e.ExecInspect(t.Context(), missing); err != nil || ins.ExitCode == nil || *ins.ExitCode != 126 {
		t.Errorf("exec of a missing command: got %+v, %v; want exit code 126", ins, err)
	}

	cfg := execConfig(false, "id", "-u")
	cfg.User = "nobody"
	execID, err := e.ExecCreate(t.Context(), id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := e.ExecStart(t.Context(), execID, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "65534\n" {
		t.Errorf("exec as nobody: got %q, want 65534", out.String())
	}
	if err := e.ExecStart(t.Context(), execID, nil, &out, &out); !errdefs.Is(err, errdefs.KindConflict) {
		t.Errorf("second start: got %v, want Conflict", err)
	}
	if _, err := e.ExecInspect(t.Context(), "nosuch"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("inspect of unknown exec: got %v, want NotFound", err)
	}
}

func TestExecInStoppedContainer(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("true")
	wait(t, start(t, e, task))
	_, err := e.ExecCreate(t.Context(), ContainerID(task.ID), execConfig(false, "echo"))
	if !errdefs.Is(err, errdefs.KindConflict) {
		t.Errorf("got %v, want Conflict", err)
	}
}

func TestRemove(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sleep", "1000")
	task.Spec.ContainerSpec.Mounts = []mount.Mount{
		{Type: mount.TypeVolume, Target: "/anon"},
		{Type: mount.TypeVolume, Source: "named", Target: "/named"},
	}
	ctl := start(t, e, task)
	id := ContainerID(task.ID)
	volumes := filepath.Join(e.cfg.Root, "volumes")
	anon := filepath.Join(volumes, anonymousVolume(id, "/anon"))
	if _, err := os.Stat(anon); err != nil {
		t.Fatalf("anonymous volume: %v", err)
	}
	if err := e.Remove(t.Context(), id, false); !errdefs.Is(err, errdefs.KindConflict) {
		t.Fatalf("remove running without force: got %v, want Conflict", err)
	}
	if err := e.Remove(t.Context(), "svc.1."+task.ID, true); err != nil {
		t.Fatal(err)
	}
	assertGone(t, e, id)
	if _, err := os.Stat(anon); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("anonymous volume: got %v, want it removed with the container", err)
	}
	if _, err := os.Stat(filepath.Join(volumes, "named", "_data")); err != nil {
		t.Errorf("named volume: got %v, want it kept", err)
	}
	// The controller's Remove of what is gone is a no-op.
	if err := ctl.Remove(t.Context()); err != nil {
		t.Errorf("remove again: %v", err)
	}
	if _, err := ctl.Wait(t.Context()); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("wait on removed: got %v, want NotFound", err)
	}
}

// assertGone checks that nothing of container id is left: no container,
// snapshot, network namespace, files.
func assertGone(t *testing.T, e *Executor, id string) {
	t.Helper()
	ctx := namespaces.WithNamespace(t.Context(), env.namespace)
	if _, err := env.client.LoadContainer(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Errorf("container: got %v, want not found", err)
	}
	if _, err := env.client.SnapshotService(e.cfg.Snapshotter).Stat(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Errorf("snapshot: got %v, want not found", err)
	}
	for _, p := range []string{filepath.Join(env.netnsDir, id), e.dir(id)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: got %v, want it gone", p, err)
		}
	}
	if _, err := e.Inspect(t.Context(), id); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("inspect: got %v, want NotFound", err)
	}
}

// TestAdoptionAcrossRestart restarts containerd and the executor (as a
// daemon restart does) while a container runs: the new executor adopts the
// container, which kept logging meanwhile, and waits for its exit.
func TestAdoptionAcrossRestart(t *testing.T) {
	root := t.TempDir()
	e1 := newExecutor(t, root)
	task := newTask("sh", "-c", "echo before; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after; exit 4")
	id := ContainerID(task.ID)
	// Remove with the executor of the time: the first one's client is
	// closed by the restart.
	current := e1
	t.Cleanup(func() {
		if err := current.remove(current.ns(context.Background()), id, true, true); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	ctl1, err := e1.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl1.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := ctl1.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	st1, err := ctl1.ContainerStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	env.client.Close()
	if err := env.containerd.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := startContainerd(ctx); err != nil {
		t.Fatal(err)
	}

	e2 := newExecutor(t, root)
	current = e2
	ctl2, err := e2.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl2.Prepare(t.Context()); err != nil {
		t.Fatalf("prepare adopted: %v", err)
	}
	if err := ctl2.Start(t.Context()); err != nil {
		t.Fatalf("start adopted: %v", err)
	}
	st2, err := ctl2.ContainerStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st2.PID == 0 || st2.PID != st1.PID {
		t.Fatalf("got PID %d after adoption, want the same process %d", st2.PID, st1.PID)
	}
	if _, code := execOutput(t, e2, id, nil, "touch", "/tmp/go"); code != 0 {
		t.Fatalf("touch: exit %d", code)
	}
	st := wait(t, ctl2)
	if st.Code != 4 {
		t.Errorf("got exit code %d, want 4", st.Code)
	}
	if got := logText(t, e2, id); got != "before\nafter\n" {
		t.Errorf("got log %q, want both lines", got)
	}
}

func logText(t testing.TB, e *Executor, id string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range readLogs(t, e, id, LogOptions{Stdout: true, Stderr: true, Tail: -1}) {
		b.WriteString(l.Text)
	}
	return b.String()
}

// BenchmarkRunToExit measures a task's whole life on a container that exits
// at once: Prepare, Start, Wait, Remove.
func BenchmarkRunToExit(b *testing.B) {
	e := newExecutor(b, "")
	for b.Loop() {
		ctl, err := e.Controller(newTask("true"), nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		if err := ctl.Prepare(ctx); err != nil {
			b.Fatal(err)
		}
		if err := ctl.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := ctl.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		if err := ctl.Remove(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWaitAcrossContainerdRestart restarts containerd under a Wait: the
// Wait must ride it out and report the exit, not fail the task.
func TestWaitAcrossContainerdRestart(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 5")
	ctl := start(t, e, task)
	type result struct {
		st  executor.ExitStatus
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := ctl.Wait(t.Context())
		done <- result{st, err}
	}()

	ctx := context.Background()
	if err := env.containerd.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := privatecontainerd.Start(ctx, env.pcfg)
	if err != nil {
		t.Fatal(err)
	}
	env.containerd = p
	// The executor's client reconnects by itself, after a back-off.
	for {
		if _, err := env.client.Version(ctx); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, code := execOutput(t, e, ContainerID(task.ID), nil, "touch", "/tmp/go"); code != 0 {
		r := <-done
		b, _ := os.ReadFile(filepath.Join(env.pcfg.Root, "containerd.log"))
		t.Fatalf("touch: exit %d; wait: %+v, %v; end of containerd's log:\n%s", code, r.st, r.err, b[max(0, len(b)-8192):])
	}
	r := <-done
	if r.err != nil || r.st.Code != 5 {
		t.Errorf("got %+v, %v; want exit code 5", r.st, r.err)
	}
}
