// Package privatecontainerd starts and supervises a containerd of Shoal's
// own, as dockerd does: its own root, state and socket, in its own process
// group so that it (and the containers it runs) outlive a crash of the daemon,
// and adopted again when the daemon comes back.
package privatecontainerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const (
	// readyTimeout bounds how long a fresh containerd may take to answer.
	readyTimeout = 30 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// maxLogSize is the size at which the log file is rotated at start.
	maxLogSize = 10 << 20
	// maxSocketPath is the longest path a unix socket address may have
	// (sun_path is 108 bytes, NUL included).
	maxSocketPath = 107
)

// Config says where the private containerd keeps its data.
type Config struct {
	Root   string // containerd's root dir (persistent), e.g. DATA/containerd
	State  string // containerd's state dir (tmpfs), e.g. /run/shoal/containerd
	Binary string // the containerd binary; "containerd" on PATH when empty
	Logger *slog.Logger
}

// Process is a running private containerd, started by us or adopted from an
// earlier run of the daemon.
type Process struct {
	cfg     Config
	address string
	log     *slog.Logger

	mu       sync.Mutex
	pid      int           // guarded by mu
	started  time.Time     // guarded by mu; when pid was started or adopted
	exited   chan struct{} // guarded by mu; closed when pid is gone
	stopping bool          // guarded by mu; set by Stop, stops restarts
}

// Start starts containerd with cfg, or adopts the containerd that already
// serves cfg's socket, and returns once it answers.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if cfg.Root == "" || cfg.State == "" {
		return nil, errdefs.Invalid("private containerd needs a root and a state directory")
	}
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	address := filepath.Join(cfg.State, "containerd.sock")
	if len(address)+len(".ttrpc") > maxSocketPath {
		return nil, errdefs.Invalid("containerd socket path %s.ttrpc is longer than %d bytes: choose a shorter state directory", address, maxSocketPath)
	}
	p := &Process{
		cfg:     cfg,
		address: address,
		log:     cfg.Logger.With("containerd.address", address),
	}
	if pid, err := probe(ctx, address); err == nil {
		p.adopt(pid)
		return p, nil
	}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Address is the containerd socket path, for client.New.
func (p *Process) Address() string { return p.address }

// Pid is the process id of the containerd being supervised now.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Run restarts containerd whenever it dies, until ctx ends or Stop is
// called. It does not stop containerd when ctx ends: containers keep running
// across a restart of the daemon.
func (p *Process) Run(ctx context.Context) {
	delay := time.Duration(0)
	for {
		p.mu.Lock()
		exited, started := p.exited, p.started
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-exited:
		}
		if p.isStopping() {
			return
		}
		delay = restartDelay(delay, time.Since(started))
		p.log.Warn("containerd died; restarting", "restart.delay", delay, "log", p.logPath())
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if p.isStopping() {
				return
			}
			err := p.start(ctx)
			if err == nil {
				break
			}
			delay = restartDelay(delay, 0)
			p.log.Error("restarting containerd failed", "err", err, "restart.delay", delay)
		}
	}
}

// restartDelay is how long to wait before restarting a containerd that ran
// for uptime, after waiting prev the time before: quick after a long life,
// doubling while it keeps dying young.
func restartDelay(prev, uptime time.Duration) time.Duration {
	const (
		minDelay = 100 * time.Millisecond
		maxDelay = 10 * time.Second
		young    = 10 * time.Second
	)
	if uptime >= young || prev < minDelay {
		return minDelay
	}
	return min(2*prev, maxDelay)
}

// Stop stops containerd: SIGTERM, then SIGKILL when it has not exited after
// a grace period. Containers keep running: their shims are separate
// processes that a new containerd reconnects to.
func (p *Process) Stop(ctx context.Context) error {
	p.mu.Lock()
	p.stopping = true
	pid, exited := p.pid, p.exited
	p.mu.Unlock()

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop containerd (pid %d): %w", pid, err)
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-exited:
		p.log.Info("containerd stopped", "pid", pid)
		return nil
	case <-ctx.Done():
	case <-grace.C:
	}
	p.log.Warn("containerd did not stop on SIGTERM; killing it", "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill containerd (pid %d): %w", pid, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopGrace):
		return fmt.Errorf("containerd (pid %d) still runs after SIGKILL", pid)
	}
}

func (p *Process) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// ContentRoot is the directory of containerd's content store (its
// local content plugin's root), which the image store may read blobs from
// directly.
func (p *Process) ContentRoot() string {
	return filepath.Join(p.cfg.Root, "io.containerd.content.v1.content")
}

func (p *Process) logPath() string { return filepath.Join(p.cfg.Root, "containerd.log") }

// start launches a new containerd and waits until it answers.
func (p *Process) start(ctx context.Context) error {
	if err := os.MkdirAll(p.cfg.Root, 0o711); err != nil {
		return fmt.Errorf("create containerd root: %w", err)
	}
	if err := os.MkdirAll(p.cfg.State, 0o711); err != nil {
		return fmt.Errorf("create containerd state: %w", err)
	}
	conf, err := renderConfig(p.cfg.Root, p.cfg.State, p.address)
	if err != nil {
		return errdefs.Invalid("private containerd: %w", err)
	}
	confPath := filepath.Join(p.cfg.State, "config.toml")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return fmt.Errorf("write containerd config: %w", err)
	}
	logFile, err := openLog(p.logPath())
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(p.cfg.Binary, "--config", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a ^C or SIGKILL of the daemon's group must not
	// reach containerd, which keeps the containers' shims company.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start containerd %s: %w", p.cfg.Binary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // how it ended is in its log
		close(exited)
	}()

	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := waitReady(readyCtx, p.address, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("containerd did not come up: %w; its log %s ends with:\n%s", err, p.logPath(), logTail(p.logPath()))
	}
	p.mu.Lock()
	if p.stopping {
		// Stop ran while this restart was under way and did not see it.
		p.mu.Unlock()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		return errors.New("containerd was stopped while it restarted")
	}
	p.pid, p.exited, p.started = cmd.Process.Pid, exited, time.Now()
	p.mu.Unlock()
	p.log.Info("containerd started", "pid", cmd.Process.Pid, "log", p.logPath())
	return nil
}

// adopt takes over a containerd that an earlier run started. It is not our
// child, so its exit is noticed by polling.
func (p *Process) adopt(pid int) {
	exited := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			if !alive(pid) {
				close(exited)
				return
			}
		}
	}()
	p.mu.Lock()
	p.pid, p.exited, p.started = pid, exited, time.Now()
	p.mu.Unlock()
	p.log.Info("adopted running containerd", "pid", pid)
}

// alive reports whether pid exists and has not exited (a zombie has).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may itself
	// hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// waitReady polls address until containerd answers, exited closes or ctx
// ends.
func waitReady(ctx context.Context, address string, exited <-chan struct{}) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := probe(ctx, address)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("containerd exited")
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// probe asks the containerd at address for its version and returns the pid
// of the process that serves the socket.
func probe(ctx context.Context, address string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", address)
	if err != nil {
		return 0, err
	}
	pid, err := peerPid(conn.(*net.UnixConn))
	conn.Close()
	if err != nil {
		return 0, err
	}
	c, err := client.New(address)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Version(ctx); err != nil {
		return 0, fmt.Errorf("socket %s answers but not as containerd: %w", address, err)
	}
	return pid, nil
}

func peerPid(conn *net.UnixConn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, fmt.Errorf("read socket peer: %w", credErr)
	}
	return int(cred.Pid), nil
}

// openLog opens containerd's log for appending, first moving a large one
// aside so that it cannot grow without bound.
func openLog(path string) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > maxLogSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate containerd log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open containerd log: %w", err)
	}
	return f, nil
}

// logTail returns the last lines of the log, for error messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 2048
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		_, _ = f.Seek(-tail, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
