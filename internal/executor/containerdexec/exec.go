package containerdexec

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
)

const (
	// execOutputGrace bounds how long an exec's output is drained after
	// the process exited: a child it left in the background may hold the
	// output open for ever.
	execOutputGrace = 2 * time.Second
	// execKeep is how long the record of a finished exec is kept for
	// docker exec inspect.
	execKeep = 10 * time.Minute
)

// execRecord is an exec instance: created, then started once.
type execRecord struct {
	id          string
	containerID string
	cfg         container.ExecCreateRequest

	mu       sync.Mutex
	started  bool           // guarded by mu
	running  bool           // guarded by mu
	pid      int            // guarded by mu
	proc     client.Process // guarded by mu; nil unless running
	exitCode *int           // guarded by mu; nil until the process exited
	ended    time.Time      // guarded by mu
}

// ExecCreate makes an exec instance that runs cfg.Cmd in the running
// container idOrName, and returns its ID.
func (e *Executor) ExecCreate(ctx context.Context, idOrName string, cfg container.ExecCreateRequest) (string, error) {
	ctx = e.ns(ctx)
	if len(cfg.Cmd) == 0 {
		return "", errdefs.Invalid("No exec command specified")
	}
	ctr, _, err := e.lookup(ctx, idOrName)
	if err != nil {
		return "", err
	}
	if err := e.checkRunning(ctx, ctr); err != nil {
		return "", err
	}
	r := &execRecord{id: identity.NewContainerID(), containerID: ctr.ID(), cfg: cfg}
	r.cfg.Cmd = slices.Clone(cfg.Cmd)
	r.cfg.Env = slices.Clone(cfg.Env)

	e.execMu.Lock()
	defer e.execMu.Unlock()
	for id, old := range e.execs {
		old.mu.Lock()
		stale := !old.ended.IsZero() && time.Since(old.ended) > execKeep
		old.mu.Unlock()
		if stale {
			delete(e.execs, id)
		}
	}
	e.execs[r.id] = r
	e.containerEvent(r.containerID, nil, execAction(events.ActionExecCreate, cfg.Cmd), map[string]string{"execID": r.id})
	return r.id, nil
}

// execAction is an exec event's action with the command, as dockerd
// shows it: "exec_start: sh -c date".
func execAction(a events.Action, cmd []string) events.Action {
	return events.Action(string(a) + ": " + strings.Join(cmd, " "))
}

// checkRunning returns errdefs.Conflict unless ctr's process runs.
func (e *Executor) checkRunning(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	if err == nil {
		st, serr := task.Status(ctx)
		if serr == nil && st.Status == client.Running {
			return nil
		}
		err = serr
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("status of %s: %w", ctr.ID(), err)
	}
	return errdefs.Conflict("Container %s is not running", ctr.ID())
}

func (e *Executor) execRecord(id string) (*execRecord, error) {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	r, ok := e.execs[id]
	if !ok {
		return nil, errdefs.NotFound("No such exec instance: %s", id)
	}
	return r, nil
}

// forgetExecs drops the exec records of a removed container.
func (e *Executor) forgetExecs(containerID string) {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	for id, r := range e.execs {
		if r.containerID == containerID {
			delete(e.execs, id)
		}
	}
}

// ExecStart runs the exec instance execID with the given streams (each may
// be nil) and returns once its process has exited and its output has been
// written. When ctx ends first, ExecStart returns ctx's error and the
// process runs on; its exit is still recorded.
func (e *Executor) ExecStart(ctx context.Context, execID string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx = e.ns(ctx)
	r, err := e.execRecord(execID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	started := r.started
	r.started = true
	r.mu.Unlock()
	if started {
		return errdefs.Conflict("exec %s has already been started", execID)
	}

	// The process outlives a client that goes away, as in Docker.
	bg := context.WithoutCancel(ctx)
	x, err := e.startExec(bg, r.containerID, execID, r.cfg, stdin, stdout, stderr)
	if err != nil {
		return e.execFailed(r, err)
	}
	r.mu.Lock()
	r.running, r.pid, r.proc = true, int(x.proc.Pid()), x.proc
	r.mu.Unlock()
	e.containerEvent(r.containerID, nil, execAction(events.ActionExecStart, r.cfg.Cmd), map[string]string{"execID": execID})

	done := make(chan struct{})
	go func() {
		defer close(done)
		code := e.finishExec(bg, x, <-x.exited)
		r.mu.Lock()
		r.running, r.exitCode, r.ended, r.proc = false, &code, time.Now(), nil
		r.mu.Unlock()
		e.containerEvent(r.containerID, nil, events.ActionExecDie, map[string]string{"execID": execID, "exitCode": strconv.Itoa(code)})
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runningExec is a started exec process.
type runningExec struct {
	containerID string
	proc        client.Process
	exited      <-chan client.ExitStatus
	finished    chan struct{} // closed by finishExec
}

// startExec starts cfg.Cmd in the running container containerID as exec
// process execID, with the streams cfg attaches (each may be nil).
func (e *Executor) startExec(ctx context.Context, containerID, execID string, cfg container.ExecCreateRequest, stdin io.Reader, stdout, stderr io.Writer) (*runningExec, error) {
	ctr, err := e.cfg.Client.LoadContainer(ctx, containerID)
	if err != nil {
		return nil, errdefs.Conflict("Container %s is not running", containerID)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return nil, errdefs.Conflict("Container %s is not running", containerID)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("spec of %s: %w", containerID, err)
	}
	pspec, err := execProcess(spec.Process, cfg, filepath.Join("/proc", strconv.Itoa(int(task.Pid())), "root"))
	if err != nil {
		return nil, err
	}

	var stdinEOF chan struct{}
	if !cfg.AttachStdin {
		stdin = nil
	} else if stdin != nil {
		stdinEOF = make(chan struct{})
		stdin = &eofReader{r: stdin, eof: stdinEOF}
	}
	// containerd 1.6's shim cannot start an exec without an output path,
	// so output nobody attached to is discarded here.
	if !cfg.AttachStdout || stdout == nil {
		stdout = io.Discard
	}
	switch {
	case cfg.Tty:
		stderr = nil // a terminal has one output
	case !cfg.AttachStderr || stderr == nil:
		stderr = io.Discard
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(filepath.Join(e.cfg.Root, "fifo"))}
	if cfg.Tty {
		opts = append(opts, cio.WithTerminal)
	}
	proc, err := task.Exec(ctx, execID, pspec, cio.NewCreator(opts...))
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", containerID, err)
	}
	exited, err := proc.Wait(ctx)
	if err != nil {
		proc.Delete(ctx)
		return nil, fmt.Errorf("exec in %s: %w", containerID, err)
	}
	if err := proc.Start(ctx); err != nil {
		proc.Delete(ctx, client.WithProcessKill)
		return nil, fmt.Errorf("exec in %s: %w", containerID, err)
	}
	x := &runningExec{containerID: containerID, proc: proc, exited: exited, finished: make(chan struct{})}
	if stdinEOF != nil {
		// The shim holds the stdin FIFO open for writing itself, so the
		// process sees the end of its input only when told.
		go func() {
			select {
			case <-stdinEOF:
				if err := proc.CloseIO(ctx, client.WithStdinCloser); err != nil && !cerrdefs.IsNotFound(err) {
					e.log.Warn("close exec stdin", "container.id", containerID, "exec.id", execID, "err", err)
				}
			case <-x.finished:
			}
		}()
	}
	return x, nil
}

// finishExec writes what is left of x's output, deletes the process, and
// returns its exit code; st is its exit.
func (e *Executor) finishExec(ctx context.Context, x *runningExec, st client.ExitStatus) int {
	defer close(x.finished)
	drained := make(chan struct{})
	go func() { x.proc.IO().Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execOutputGrace):
	}
	if _, err := x.proc.Delete(ctx); err != nil && !cerrdefs.IsNotFound(err) {
		e.log.Warn("delete exec process", "container.id", x.containerID, "exec.id", x.proc.ID(), "err", err)
	}
	return int(st.ExitCode())
}

// execFailed records that exec r could not run (Docker shows exit code 126
// for it) and returns err.
func (e *Executor) execFailed(r *execRecord, err error) error {
	code := 126
	r.mu.Lock()
	r.exitCode, r.ended = &code, time.Now()
	r.mu.Unlock()
	return err
}

// execProcess returns the process of an exec: the container's process with
// cfg's command, env added, user and working directory. rootfs is the
// container's root as seen from the host, to look the user up in.
func execProcess(base *specs.Process, cfg container.ExecCreateRequest, rootfs string) (*specs.Process, error) {
	p := *base
	p.Args = slices.Clone(cfg.Cmd)
	p.Env = mergeEnv(base.Env, cfg.Env)
	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	if cfg.Tty && cfg.ConsoleSize != nil {
		p.ConsoleSize = &specs.Box{Height: cfg.ConsoleSize[0], Width: cfg.ConsoleSize[1]}
	}
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.User != "" {
		u, err := user.GetExecUserPath(cfg.User, &user.ExecUser{Home: "/"},
			filepath.Join(rootfs, "etc", "passwd"), filepath.Join(rootfs, "etc", "group"))
		if err != nil {
			return nil, errdefs.Invalid("exec user %q: %v", cfg.User, err)
		}
		p.User = specs.User{UID: uint32(u.Uid), GID: uint32(u.Gid)}
		for _, g := range u.Sgids {
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
		}
	}
	return &p, nil
}

// ExecInspect reports an exec instance as docker exec inspect shows it.
func (e *Executor) ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	r, err := e.execRecord(execID)
	if err != nil {
		return container.ExecInspectResponse{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := container.ExecInspectResponse{
		ID:          r.id,
		Running:     r.running,
		OpenStdin:   r.cfg.AttachStdin,
		OpenStdout:  r.cfg.AttachStdout,
		OpenStderr:  r.cfg.AttachStderr,
		ContainerID: r.containerID,
		Pid:         r.pid,
		ProcessConfig: &container.ExecProcessConfig{
			Tty:        r.cfg.Tty,
			Entrypoint: r.cfg.Cmd[0],
			Arguments:  r.cfg.Cmd[1:],
			User:       r.cfg.User,
		},
	}
	if r.exitCode != nil {
		code := *r.exitCode
		resp.ExitCode = &code
	}
	return resp, nil
}

// eofReader closes eof when r has ended.
type eofReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

// ExecResize sets the size of a running exec instance's terminal.
func (e *Executor) ExecResize(ctx context.Context, execID string, height, width uint32) error {
	r, err := e.execRecord(execID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	proc := r.proc
	r.mu.Unlock()
	if proc == nil {
		return errdefs.Conflict("exec %s is not running", execID)
	}
	if err := proc.Resize(e.ns(ctx), width, height); err != nil {
		return fmt.Errorf("resize the terminal of exec %s: %w", execID, err)
	}
	return nil
}
