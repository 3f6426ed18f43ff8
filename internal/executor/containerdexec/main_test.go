package containerdexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/network/bridge"
	"github.com/shoal-project/shoal/internal/privatecontainerd"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
	"github.com/shoal-project/shoal/internal/volume"
)

var _ ImageStore = (*images.Store)(nil)

// Environment of the copy of the test binary that runs inside new network
// and mount namespaces: where its containerd keeps root and state, and the
// containerd namespace of the tests. The parent makes and removes them.
const (
	rootEnv      = "SHOAL_CDEXEC_TEST_ROOT"
	stateEnv     = "SHOAL_CDEXEC_TEST_STATE"
	namespaceEnv = "SHOAL_CDEXEC_TEST_NAMESPACE"
)

// testImage is the busybox image every test container runs.
const testImage = "busybox:latest"

// env is what the integration tests share: one private containerd, its
// image store with the busybox image, and the bridge network.
var env struct {
	containerd *privatecontainerd.Process
	pcfg       privatecontainerd.Config
	client     *client.Client
	namespace  string
	images     *images.Store
	network    *bridge.Bridge
	netnsDir   string
}

// TestMain runs the log driver when a shim started this binary as one.
// Otherwise, as root, it runs the tests in a copy of itself inside new
// network and mount namespaces: the bridge, the containers' namespaces and
// every mount containerd makes live in there and go away with it. The
// parent then removes whatever a child that died left behind.
func TestMain(m *testing.M) {
	LoggerMain()
	switch {
	case os.Getenv(rootEnv) != "":
		os.Exit(runIsolatedTests(m))
	case os.Geteuid() == 0:
		os.Exit(runIsolated())
	default:
		// Without root only the tests that need no containers run.
		os.Exit(m.Run())
	}
}

func runIsolated() int {
	root, err := os.MkdirTemp("", "shoal-cdexec-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	// Unix socket paths must be short: a temporary directory's may not be.
	state, err := os.MkdirTemp("/run", "shoal-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(state)
	ns := "shoaltest-" + strings.ToLower(identity.NewID()[:8])

	// The child's temporary directories go under root too, so that those
	// of tests cut short by a timeout are removed with it.
	tmp := filepath.Join(root, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), rootEnv+"="+root, stateEnv+"="+state, namespaceEnv+"="+ns, "TMPDIR="+tmp)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			fmt.Fprintln(os.Stderr, "run tests in new namespaces:", err)
			return 1
		}
		code = exit.ExitCode()
	}
	if err := cleanupAfter(root, state, ns); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
	return code
}

// cleanupAfter removes what a test child that died (a timeout, a crash)
// or failed to clean up left: the containers in ns with their shims and
// log drivers, the containerd serving state, and the namespace's cgroups.
func cleanupAfter(root, state, ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	address := filepath.Join(state, "containerd.sock")
	var (
		left []string
		err  error
	)
	if _, serr := os.Stat(address); serr == nil {
		left, err = deleteWithContainerd(ctx, root, state, ns)
	}
	// A task whose creation was cut short, or a container the child could
	// not delete, can leave a shim (and the container's processes) that
	// no containerd knows of.
	killOrphans(address, ns)
	removeCgroups(ns)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("the tests left containers behind: %v", left)
	}
	return nil
}

// deleteWithContainerd adopts (or starts) the tests' containerd, deletes
// the containers in ns and stops it.
func deleteWithContainerd(ctx context.Context, root, state, ns string) ([]string, error) {
	p, err := privatecontainerd.Start(ctx, privatecontainerd.Config{Root: filepath.Join(root, "containerd"), State: state})
	if err != nil {
		return nil, fmt.Errorf("adopt the tests' containerd to clean up: %w", err)
	}
	defer p.Stop(ctx)
	c, err := client.New(p.Address())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return deleteAll(ctx, c, ns)
}

// killOrphans kills the shims serving the containerd at address and the
// processes in the cgroups of namespace ns: all were started by the tests.
func killOrphans(address, ns string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == address {
				if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				break
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/pids", ns, "*", "cgroup.procs"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(field); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func runIsolatedTests(m *testing.M) (code int) {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "test setup:", err)
		return 1
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail(fmt.Errorf("make mounts private: %w", err))
	}
	ctx := context.Background()
	root := os.Getenv(rootEnv)
	env.namespace = os.Getenv(namespaceEnv)
	env.pcfg = privatecontainerd.Config{Root: filepath.Join(root, "containerd"), State: os.Getenv(stateEnv)}
	if err := startContainerd(ctx); err != nil {
		return fail(err)
	}
	defer func() {
		left, err := deleteAll(ctx, env.client, env.namespace)
		if err == nil && len(left) > 0 {
			err = fmt.Errorf("tests left containers behind: %v", left)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
		env.client.Close()
		env.containerd.Stop(ctx)
	}()

	tar, err := testimage.BuildRootfsTar(root)
	if err != nil {
		return fail(err)
	}
	f, err := os.Open(tar)
	if err != nil {
		return fail(err)
	}
	_, err = env.images.Import(ctx, f, testImage, []string{`CMD ["sh"]`})
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("import busybox: %w", err))
	}

	env.netnsDir = filepath.Join(root, "netns")
	env.network, err = bridge.New(bridge.Config{
		Name:     "shoalcx0",
		Subnet:   netip.MustParsePrefix("10.77.0.0/24"),
		StateDir: filepath.Join(root, "bridge"),
		NetnsDir: env.netnsDir,
	})
	if err != nil {
		return fail(err)
	}
	if err := env.network.Setup(ctx); err != nil {
		return fail(err)
	}
	defer env.network.Teardown(ctx)
	return m.Run()
}

func startContainerd(ctx context.Context) error {
	p, err := privatecontainerd.Start(ctx, env.pcfg)
	if err != nil {
		return err
	}
	c, err := client.New(p.Address())
	if err != nil {
		p.Stop(ctx)
		return err
	}
	env.containerd, env.client = p, c
	env.images = images.New(c, images.Options{Namespace: env.namespace})
	return nil
}

// deleteAll deletes the containers in ns, killing their processes, and
// returns their IDs.
func deleteAll(ctx context.Context, c *client.Client, ns string) ([]string, error) {
	ctx = namespaces.WithNamespace(ctx, ns)
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return nil, err
	}
	var (
		ids  []string
		errs []error
	)
	for _, ctr := range ctrs {
		ids = append(ids, ctr.ID())
		task, err := ctr.Task(ctx, nil)
		if err == nil {
			_, err = task.Delete(ctx, client.WithProcessKill)
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task %s: %w", ctr.ID(), err))
		}
		if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
			errs = append(errs, fmt.Errorf("delete container %s: %w", ctr.ID(), err))
		}
	}
	return ids, errors.Join(errs...)
}

// removeCgroups removes the cgroups runc made for namespace ns, once
// their processes are gone.
func removeCgroups(ns string) {
	for range 50 {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns, "*"))
		more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
		dirs = append(dirs, more...)
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", ns))
		busy := false
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				busy = true
			}
		}
		if !busy {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requireContainerd skips tests that run containers unless TestMain set
// up containerd in its namespaces.
func requireContainerd(t testing.TB) {
	t.Helper()
	if os.Getenv(rootEnv) == "" {
		t.Skip("needs root: runs containers in its own namespaces")
	}
}

// newExecutor returns an Executor over the shared containerd whose files
// are under root (a new temporary directory when empty).
func newExecutor(t testing.TB, root string) *Executor {
	t.Helper()
	requireContainerd(t)
	if root == "" {
		root = t.TempDir()
	}
	vols, err := volume.Open(volume.Config{Root: filepath.Join(root, "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{
		Client:        env.client,
		Namespace:     env.namespace,
		Images:        env.images,
		Volumes:       vols,
		Network:       env.network,
		Root:          root,
		Hostname:      "testhost",
		EngineVersion: "test",
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newTask returns a task of service "svc" that runs args in busybox.
func newTask(args ...string) *swarm.Task {
	id := identity.NewID()
	return &swarm.Task{
		ID:          id,
		ServiceID:   "svc-id",
		Slot:        1,
		NodeID:      "node1",
		Annotations: swarm.Annotations{Labels: map[string]string{LabelServiceName: "svc"}},
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:   testImage,
			Command: args,
		}},
	}
}

// start prepares and starts task's container and removes it when the test
// ends.
func start(t testing.TB, e *Executor, task *swarm.Task) executor.Controller {
	t.Helper()
	ctl := prepareWith(t, e, task, nil)
	if err := ctl.Start(t.Context()); err != nil {
		t.Fatalf("start: %v", err)
	}
	return ctl
}

// wait waits for ctl's process to exit, for at most a minute.
func wait(t testing.TB, ctl executor.Controller) executor.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := ctl.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return st
}

// logLine is one line of output, for comparisons.
type logLine struct {
	Stream int
	Text   string
}

func readLogs(t testing.TB, e *Executor, id string, opts LogOptions) []logLine {
	t.Helper()
	var out []logLine
	err := e.Logs(t.Context(), id, opts, func(stream int, _ time.Time, line []byte) error {
		out = append(out, logLine{stream, string(line)})
		return nil
	})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	return out
}

// execOutput runs cmd in container id and returns its output and exit code.
func execOutput(t testing.TB, e *Executor, id string, stdin io.Reader, cmd ...string) (string, int) {
	t.Helper()
	execID, err := e.ExecCreate(t.Context(), id, execConfig(stdin != nil, cmd...))
	if err != nil {
		t.Fatalf("exec create %v: %v", cmd, err)
	}
	var out strings.Builder
	if err := e.ExecStart(t.Context(), execID, stdin, &out, &out); err != nil {
		t.Fatalf("exec start %v: %v", cmd, err)
	}
	ins, err := e.ExecInspect(t.Context(), execID)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Running || ins.ExitCode == nil {
		t.Fatalf("exec %v: got running %v exit code %v after it ended", cmd, ins.Running, ins.ExitCode)
	}
	return out.String(), *ins.ExitCode
}
