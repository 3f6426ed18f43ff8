// Package e2e drives real Shoal daemons — real containerd, real
// containers, real network namespaces — with the real docker CLI and the
// shoal CLI, the way a user would.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shoalBin is the binary under test, built once by TestMain.
var shoalBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: needs root (containers, network namespaces)")
		return 1
	}
	dir, err := os.MkdirTemp("", "shoal-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shoalBin = filepath.Join(dir, "shoal")
	// With the test hooks (internal/daemon/testhooks.go): a way to write
	// the store past the API, which no other build has.
	build := exec.Command("go", "build", "-tags", "shoaltesthooks", "-o", shoalBin, "../cmd/shoal")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build shoal:", err)
		return 1
	}
	return m.Run()
}

// Daemon is one running `shoal daemon`.
type Daemon struct {
	t        testing.TB
	Name     string
	DataRoot string
	ExecRoot string
	Socket   string
	Args     []string // extra daemon flags
	Bridge   string   // the daemon's default bridge
	cmd      *exec.Cmd
	exited   chan struct{}
	logPath  string
}

// StartDaemon starts a daemon with its own data root, exec root, socket
// and private containerd, and stops it (SIGTERM) and removes everything
// it made when the test ends.
func StartDaemon(t testing.TB, extra ...string) *Daemon {
	t.Helper()
	// Unix socket paths must stay under 108 bytes: keep the exec root short.
	execRoot, err := os.MkdirTemp("/run", "se-")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(execRoot)
	d := &Daemon{
		t:        t,
		Name:     name,
		DataRoot: t.TempDir(),
		ExecRoot: execRoot,
		Socket:   filepath.Join(execRoot, "shoal.sock"),
		Bridge:   "sb" + strings.TrimPrefix(name, "se-"),
	}
	// Its own bridge, so that daemons of earlier tests leave nothing in its way.
	d.Args = append([]string{"--bridge-name", d.Bridge, "--bridge-cidr", "172.27.0.0/16"}, extra...)
	if rt := os.Getenv("SHOAL_E2E_RUNTIME"); rt != "" {
		// Every test's containers under another OCI runtime (crun), to
		// see that the engine behaves the same on it.
		d.Args = append([]string{"--default-runtime", rt}, d.Args...)
	}
	d.logPath = filepath.Join(d.DataRoot, "daemon.log")
	t.Cleanup(func() {
		// Leaving the swarm removes the task containers, which otherwise
		// outlive the daemon by design.
		if d.cmd != nil {
			d.TryDocker("swarm", "leave", "--force")
		}
		d.Stop()
		d.cleanupHost()
		if t.Failed() {
			d.dumpLog()
		}
	})
	d.Start()
	return d
}

// Start (re)starts the daemon process over the same state.
func (d *Daemon) Start() {
	d.t.Helper()
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	args := append([]string{"daemon",
		"--data-root", d.DataRoot,
		"--exec-root", d.ExecRoot,
		"--host", "unix://" + d.Socket,
		"--log-level", "debug",
	}, d.Args...)
	cmd := exec.Command(shoalBin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	logf.Close()
	d.cmd = cmd
	d.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(cmd, d.exited)
	d.waitReady(60 * time.Second)
}

func (d *Daemon) waitReady(timeout time.Duration) {
	d.t.Helper()
	client := d.HTTPClient()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			d.dumpLog()
			d.t.Fatalf("daemon %s exited during start-up", d.Name)
		default:
		}
		resp, err := client.Get("http://shoal/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.dumpLog()
	d.t.Fatalf("daemon %s not answering on %s after %s", d.Name, d.Socket, timeout)
}

// HTTPClient talks to the daemon's socket.
func (d *Daemon) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.Socket)
		},
	}, Timeout: 30 * time.Second}
}

// Stop sends SIGTERM and waits for the daemon to exit.
func (d *Daemon) Stop() {
	d.signal(syscall.SIGTERM, 30*time.Second)
}

// Kill sends SIGKILL: the daemon gets no chance to clean up.
func (d *Daemon) Kill() {
	d.signal(syscall.SIGKILL, 10*time.Second)
}

func (d *Daemon) signal(sig syscall.Signal, wait time.Duration) {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(wait):
		d.t.Errorf("daemon %s did not exit %s after %v; killing it", d.Name, wait, sig)
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// cleanupHost removes what the daemon leaves on purpose when it stops —
// running containers and their containerd — so that tests leave the
// machine as they found it.
func (d *Daemon) cleanupHost() {
	// Whatever still runs in the containers' network namespaces (a test
	// that failed half-way) goes first, then containerd and its shims.
	out, _ := exec.Command("sh", "-c", fmt.Sprintf(
		`for ns in %[1]s/netns/*; do [ -e "$ns" ] || continue; ino=$(stat -L -c %%i "$ns");
		   for p in /proc/[0-9]*; do [ "$(stat -L -c %%i $p/ns/net 2>/dev/null)" = "$ino" ] && kill -9 ${p#/proc/}; done; done;
		 for p in $(pgrep -f '[c]ontainerd.*%[1]s'); do kill -9 $p; done;
		 grep -o ' %[2]s[^ ]*\| %[1]s[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null;
		 ip link del %[3]s 2>/dev/null; nft delete table ip shoal 2>/dev/null; true`,
		d.ExecRoot, d.DataRoot, d.Bridge)).CombinedOutput()
	if len(bytes.TrimSpace(out)) > 0 {
		d.t.Logf("cleanup %s: %s", d.Name, out)
	}
	os.RemoveAll(d.ExecRoot)
}

func (d *Daemon) dumpLog() {
	data, _ := os.ReadFile(d.logPath)
	lines := strings.Split(string(data), "\n")
	if len(lines) > 200 {
		lines = lines[len(lines)-200:]
	}
	d.t.Logf("--- last lines of %s ---\n%s", d.logPath, strings.Join(lines, "\n"))
}

// Env is the environment for CLIs talking to this daemon.
func (d *Daemon) Env() []string {
	return append(os.Environ(), "DOCKER_HOST=unix://"+d.Socket, "DOCKER_CONFIG="+filepath.Join(d.DataRoot, "docker-config"))
}

// Docker runs the docker CLI against the daemon and fails the test if it
// fails.
func (d *Daemon) Docker(args ...string) string {
	d.t.Helper()
	out, err := d.TryDocker(args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryDocker runs the docker CLI and returns its combined output and error.
func (d *Daemon) TryDocker(args ...string) (string, error) {
	return d.run("docker", args...)
}

// Shoal runs the shoal CLI against the daemon and fails the test if it
// fails.
func (d *Daemon) Shoal(args ...string) string {
	d.t.Helper()
	out, err := d.TryShoal(args...)
	if err != nil {
		d.t.Fatalf("shoal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryShoal runs the shoal CLI and returns its combined output and error.
func (d *Daemon) TryShoal(args ...string) (string, error) {
	return d.run(shoalBin, args...)
}

func (d *Daemon) run(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = d.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sleeper is a task's command that sleeps as `sleep 3600` would, but
// exits on SIGTERM: a bare sleep as the container's PID 1 ignores it, and
// every stop of it (scale down, service rm, rebalance) waits out the whole
// stop grace period, 10 s by default.
var sleeper = []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}

// Eventually polls cond until it returns "" (success) or the timeout
// passes, then fails with the last reason.
func Eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var why string
	for time.Now().Before(deadline) {
		if why = cond(); why == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("condition not met after %s: %s", timeout, why)
}
