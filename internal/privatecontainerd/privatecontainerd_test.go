package privatecontainerd

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
)

func TestRestartDelay(t *testing.T) {
	tests := []struct {
		name   string
		prev   time.Duration
		uptime time.Duration
		want   time.Duration
	}{
		{"first death", 0, time.Second, 100 * time.Millisecond},
		{"dies young again", 100 * time.Millisecond, time.Second, 200 * time.Millisecond},
		{"keeps dying young", 8 * time.Second, 0, 10 * time.Second},
		{"capped", 10 * time.Second, 0, 10 * time.Second},
		{"long life resets", 10 * time.Second, time.Hour, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := restartDelay(tt.prev, tt.uptime); got != tt.want {
				t.Errorf("restartDelay(%v, %v) = %v, want %v", tt.prev, tt.uptime, got, tt.want)
			}
		})
	}
}

func TestRenderConfig(t *testing.T) {
	conf, err := renderConfig("/var/lib/shoal/containerd", "/run/shoal/containerd", "/run/shoal/containerd/containerd.sock")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"version = 2\n",
		`root = "/var/lib/shoal/containerd"`,
		`state = "/run/shoal/containerd"`,
		"[grpc]\n  address = \"/run/shoal/containerd/containerd.sock\"",
		"[ttrpc]\n  address = \"/run/shoal/containerd/containerd.sock.ttrpc\"",
		`"io.containerd.grpc.v1.cri"`,
	} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("config lacks %q; got:\n%s", want, conf)
		}
	}
	if _, err := renderConfig("/var/lib/a\"b", "/run/x", "/run/x/containerd.sock"); err == nil {
		t.Error("renderConfig accepted a root with a quote; want an error")
	}
}

func TestStartRefusesLongSocketPath(t *testing.T) {
	cfg := Config{Root: t.TempDir(), State: "/run/" + strings.Repeat("x", 100)}
	_, err := Start(t.Context(), cfg)
	if !errdefs.Is(err, errdefs.KindInvalid) {
		t.Fatalf("Start with a long state dir: got %v, want an invalid error", err)
	}
}

func TestStartAdoptStop(t *testing.T) {
	cfg := testConfig(t)
	first := startT(t, cfg)
	if v := version(t, first.Address()); v == "" {
		t.Fatal("containerd answered with an empty version")
	}

	second := startT(t, cfg)
	if got, want := second.Pid(), first.Pid(); got != want {
		t.Fatalf("second Start ran containerd pid %d, want it to adopt pid %d", got, want)
	}
	if err := second.Stop(t.Context()); err != nil {
		t.Fatalf("Stop of the adopted containerd: %v", err)
	}
	if _, err := probe(t.Context(), first.Address()); err == nil {
		t.Fatal("containerd still answers after Stop")
	}
	if alive(first.Pid()) {
		t.Fatalf("containerd pid %d still alive after Stop", first.Pid())
	}
}

func TestRunRestartsDeadContainerd(t *testing.T) {
	cfg := testConfig(t)
	p := startT(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	old := p.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new containerd", func() bool {
		return p.Pid() != old && version(t, p.Address()) != ""
	})

	if err := p.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
}

// TestContainerSurvivesRestart is the reason for a separate process group:
// containerd can be stopped and started again (as when the daemon restarts)
// and the containers keep running.
func TestContainerSurvivesRestart(t *testing.T) {
	cfg := testConfig(t)
	p := startT(t, cfg)

	ctx := t.Context()
	c := newClient(t, p.Address())
	id := identity.NewContainerID()
	container, err := c.NewContainer(ctx, id, client.WithNewSpec(
		oci.WithRootFSPath(busyboxRootfs(t)),
		oci.WithProcessArgs("/bin/busybox", "sleep", "3600"),
	))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeContainer(t, cfg, id) })
	task, err := container.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := task.Pid()

	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	p2 := startT(t, cfg)
	if p2.Pid() == p.Pid() {
		t.Fatalf("Start after Stop adopted the stopped pid %d", p.Pid())
	}

	c2 := newClient(t, p2.Address())
	container, err = c2.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err = container.Task(ctx, nil)
	if err != nil {
		t.Fatalf("task after the restart: %v", err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.Running || task.Pid() != pid {
		t.Fatalf("after restart: task %s with pid %d, want running with pid %d", st.Status, task.Pid(), pid)
	}
}

// testConfig gives a containerd its own root and a short state path (unix
// socket paths must fit in 108 bytes, t.TempDir's do not always).
func testConfig(t *testing.T) Config {
	t.Helper()
	state, err := os.MkdirTemp("/run", "shoal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	return Config{Root: t.TempDir(), State: state}
}

func startT(t *testing.T, cfg Config) *Process {
	t.Helper()
	p, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return p
}

func newClient(t *testing.T, address string) *client.Client {
	t.Helper()
	c, err := client.New(address, client.WithDefaultNamespace("shoal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func version(t *testing.T, address string) string {
	t.Helper()
	c, err := client.New(address)
	if err != nil {
		return ""
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	v, err := c.Version(ctx)
	if err != nil {
		return ""
	}
	return v.Version
}

// removeContainer kills and deletes the container, through a containerd
// started for the purpose: cleanups run after the test's containerd stopped.
func removeContainer(t *testing.T, cfg Config, id string) {
	t.Helper()
	ctx := context.Background()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Error(err)
		return
	}
	defer p.Stop(ctx)
	c, err := client.New(p.Address(), client.WithDefaultNamespace("shoal"))
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	container, err := c.LoadContainer(ctx, id)
	if err != nil {
		t.Error(err)
		return
	}
	if task, err := container.Task(ctx, nil); err == nil {
		exited, err := task.Wait(ctx)
		if err == nil {
			_ = task.Kill(ctx, syscall.SIGKILL)
			<-exited
		}
		if _, err := task.Delete(ctx); err != nil {
			t.Error(err)
		}
	}
	if err := container.Delete(ctx); err != nil {
		t.Error(err)
	}
}

// busyboxRootfs is a directory holding only a static busybox: enough for a
// container, without an image.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(dir, "bin", "busybox"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	return dir
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
