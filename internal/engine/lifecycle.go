package engine

import (
	"cmp"
	"context"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/sys/signal"

	"github.com/shoal-project/shoal/internal/container"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// defaultStopTimeout is how long a stop waits after the stop signal when
// neither the request nor the container says, as in Docker.
const defaultStopTimeout = 10 * time.Second

// Start starts a plain container, as docker start: a manual stop is
// forgotten and the restart policy counts from nothing again. It reports
// false when the container runs already (dockerd answers 304).
func (c *Containers) Start(ctx context.Context, idOrName string) (bool, error) {
	ref, l, err := c.plain(ctx, idOrName, "start")
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.removed {
		return false, errdefs.NotFound("No such container: %s", idOrName)
	}
	if l.run != nil {
		return false, nil
	}
	c.cancelRestart(l)
	l.lastDelay = 0
	ctr, err := c.store.Update(ref.ID, func(ctr *container.Container) error {
		ctr.ManuallyStopped, ctr.RestartCount = false, 0
		return nil
	})
	if err != nil {
		return false, err
	}
	ctx = context.WithoutCancel(ctx)
	err = c.startLocked(ctx, ref.ID, l)
	if err != nil && ctr.HostConfig.AutoRemove {
		// docker run --rm of a container that cannot start leaves nothing.
		if rerr := c.removeLocked(ctx, ref.ID, l, true); rerr != nil {
			c.log.Warn("remove a container that did not start (AutoRemove)", "container.id", ref.ID, "err", rerr)
		}
	}
	return true, err
}

// startLocked starts plain container id's process, whose lock is held:
// its ports first, then its stdio, then the process, and a monitor of its
// exit. What a failed start made is undone.
func (c *Containers) startLocked(ctx context.Context, id string, l *live) (err error) {
	ctr, ok := c.store.Get(id)
	if !ok {
		return errdefs.NotFound("No such container: %s", id)
	}
	// Attachments given back when it stopped are taken again.
	if err := c.swarm.acquire(ctx, id, ctr.Name, &ctr.HostConfig, c.localResolverNets(id)); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := c.swarm.release(context.WithoutCancel(ctx), id, false); rerr != nil {
				c.log.Warn("give back the network attachments of a container that did not start", "container.id", id, "err", rerr)
			}
		}
	}()
	if err := c.rebuildHosts(id); err != nil {
		return err
	}
	bindings, err := c.allocatePorts(ctr)
	if err != nil {
		return err
	}
	if err := c.publish(ctx, id, bindings); err != nil {
		return err
	}
	unpublish := func() {
		if len(bindings) > 0 {
			if err := c.ports.UnpublishPorts(ctx, id); err != nil {
				c.log.Warn("unpublish the ports of a container that did not start", "container.id", id, "err", err)
			}
		}
	}
	sio, rio, err := l.stdio.begin()
	if err != nil {
		unpublish()
		return err
	}
	run, err := c.exec.StartContainer(ctx, id, sio)
	if err != nil {
		l.stdio.end(rio)
		unpublish()
		return err
	}
	if _, err := c.store.Update(id, func(ctr *container.Container) error { ctr.Ports = bindings; return nil }); err != nil {
		c.log.Warn("record the ports of a started container", "container.id", id, "err", err)
	}
	l.run, l.runIO = run, rio
	c.watch(id, l, run, rio)
	c.log.Debug("container started", "container.id", id)
	return nil
}

// watch waits for a run to end, then has the exit handled.
func (c *Containers) watch(id string, l *live, run *containerdexec.Run, rio *runIO) {
	c.wg.Go(func() {
		st, err := run.Wait(c.ctx)
		if c.ctx.Err() != nil {
			return // the daemon stops; the process runs on (Close)
		}
		if err != nil {
			c.log.Warn("wait for container", "container.id", id, "err", err)
			st = executor.ExitStatus{Code: 255, At: time.Now()}
		}
		l.stdio.end(rio)
		c.exited(id, l, run, st)
	})
}

// exited handles the end of a run: waiters learn of it, the ports go,
// and the container is removed (AutoRemove), restarted after the policy's
// delay, or left stopped.
func (c *Containers) exited(id string, l *live, run *containerdexec.Run, st executor.ExitStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != run {
		return
	}
	l.run, l.runIO, l.lastExit = nil, nil, st.Code
	close(l.exited)
	l.exited = make(chan struct{})
	if l.removed {
		return
	}
	c.log.Debug("container exited", "container.id", id, "exit.code", st.Code)
	if err := c.ports.UnpublishPorts(c.ctx, id); err != nil {
		c.log.Warn("unpublish the ports of an exited container", "container.id", id, "err", err)
	}
	if err := c.swarm.release(c.ctx, id, false); err != nil {
		c.log.Warn("give back the network attachments of an exited container", "container.id", id, "err", err)
	}
	ctr, err := c.store.Update(id, func(ctr *container.Container) error { ctr.Ports = nil; return nil })
	if err != nil {
		c.log.Warn("record the exit of a container", "container.id", id, "err", err)
		return
	}
	if ctr.HostConfig.AutoRemove {
		if err := c.removeLocked(c.ctx, id, l, true); err != nil {
			c.log.Warn("remove an exited container (AutoRemove)", "container.id", id, "err", err)
		}
		return
	}
	c.scheduleRestart(id, l, ctr, container.Exit{Code: st.Code, Ran: st.At.Sub(run.StartedAt)})
}

// scheduleRestart starts the container again after the delay its policy
// asks, when it asks; l's lock is held.
func (c *Containers) scheduleRestart(id string, l *live, ctr *container.Container, e container.Exit) {
	d := container.AfterExit(ctr.HostConfig.RestartPolicy, e, ctr.ManuallyStopped, ctr.RestartCount, l.lastDelay)
	if !d.Restart {
		return
	}
	l.lastDelay = d.Delay
	var t *time.Timer
	t = time.AfterFunc(d.Delay, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.restart != t || l.removed || l.run != nil || c.ctx.Err() != nil {
			return // cancelled meanwhile
		}
		l.restart = nil
		c.restartByPolicy(id, l)
	})
	l.restart = t
}

// restartByPolicy starts a container its restart policy restarts; l's
// lock is held. A start that fails counts as a run that failed at once.
func (c *Containers) restartByPolicy(id string, l *live) {
	ctr, err := c.store.Update(id, func(ctr *container.Container) error { ctr.RestartCount++; return nil })
	if err != nil {
		return
	}
	c.log.Info("restarting container by its restart policy", "container.id", id, "restart.count", ctr.RestartCount)
	if err := c.startLocked(c.ctx, id, l); err != nil {
		c.log.Warn("restart by policy failed", "container.id", id, "err", err)
		c.scheduleRestart(id, l, ctr, container.Exit{Code: l.lastExit})
	}
}

func (c *Containers) cancelRestart(l *live) bool {
	if l.restart == nil {
		return false
	}
	l.restart.Stop()
	l.restart = nil
	return true
}

// parseSignal reads a signal as docker kill and stop take it: a name
// (with or without SIG) or a number; def when empty.
func parseSignal(s string, def syscall.Signal) (syscall.Signal, error) {
	if s == "" {
		return def, nil
	}
	sig, err := signal.ParseSignal(s)
	if err != nil {
		return 0, errdefs.Invalid("Invalid signal: %s", s)
	}
	return sig, nil
}

// Stop stops a container as docker stop: its stop signal (or sig), then
// SIGKILL after its stop timeout (or timeout; -1 waits for ever). A
// plain container is marked stopped by hand, which its restart policy
// respects. It reports false when the container did not run (dockerd
// answers 304).
func (c *Containers) Stop(ctx context.Context, idOrName, sig string, timeout *int) (bool, error) {
	ref, l, err := c.resolve(ctx, idOrName)
	if err != nil {
		return false, err
	}
	insp, err := c.exec.Inspect(ctx, ref.ID)
	if err != nil {
		return false, err
	}
	stopSig, err := parseSignal(cmp.Or(sig, insp.Config.StopSignal), syscall.SIGTERM)
	if err != nil {
		return false, err
	}
	grace := defaultStopTimeout
	if insp.Config.StopTimeout != nil {
		grace = time.Duration(*insp.Config.StopTimeout) * time.Second
	}
	if timeout != nil {
		grace = time.Duration(*timeout) * time.Second
	}
	if grace < 0 {
		grace = math.MaxInt64
	}
	if l == nil {
		if !insp.State.Running {
			return false, nil
		}
		return true, c.exec.Stop(ctx, ref.ID, stopSig, grace)
	}

	l.mu.Lock()
	if _, err := c.store.Update(ref.ID, func(ctr *container.Container) error { ctr.ManuallyStopped = true; return nil }); err != nil {
		l.mu.Unlock()
		return false, err
	}
	wasRestarting := c.cancelRestart(l)
	running, exited := l.run != nil, l.exited
	l.mu.Unlock()
	if !running {
		return wasRestarting, nil
	}
	if err := c.exec.Stop(ctx, ref.ID, stopSig, grace); err != nil {
		return false, err
	}
	select {
	case <-exited:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Restart stops a plain container and starts it again, as docker
// restart.
func (c *Containers) Restart(ctx context.Context, idOrName, sig string, timeout *int) error {
	ref, _, err := c.plain(ctx, idOrName, "restart")
	if err != nil {
		return err
	}
	if _, err := c.Stop(ctx, ref.ID, sig, timeout); err != nil {
		return err
	}
	if _, err := c.Start(ctx, ref.ID); err != nil {
		return err
	}
	c.exec.RestartEvent(ref.ID)
	return nil
}

// Kill sends a signal (SIGKILL by default) to a container's process, as
// docker kill. Killing a plain container with SIGKILL or its stop signal
// stops it by hand: its restart policy leaves it stopped.
func (c *Containers) Kill(ctx context.Context, idOrName, sigName string) error {
	sig, err := parseSignal(sigName, syscall.SIGKILL)
	if err != nil {
		return err
	}
	ref, l, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	if l == nil {
		return c.exec.Signal(ctx, ref.ID, sig)
	}
	ctr, ok := c.store.Get(ref.ID)
	if !ok {
		return errdefs.NotFound("No such container: %s", idOrName)
	}
	stopSig, _ := parseSignal(ctr.Config.StopSignal, syscall.SIGTERM)
	l.mu.Lock()
	if l.run == nil {
		l.mu.Unlock()
		return errdefs.Conflict("Container %s is not running", ref.ID)
	}
	if sig == syscall.SIGKILL || sig == stopSig {
		if _, err := c.store.Update(ref.ID, func(ctr *container.Container) error { ctr.ManuallyStopped = true; return nil }); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	exited := l.exited
	l.mu.Unlock()
	if err := c.exec.Signal(ctx, ref.ID, sig); err != nil {
		return err
	}
	if sig == syscall.SIGKILL {
		select {
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Pause freezes a container's processes.
func (c *Containers) Pause(ctx context.Context, idOrName string) error {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	return c.exec.Pause(ctx, ref.ID)
}

// Unpause thaws a container's processes.
func (c *Containers) Unpause(ctx context.Context, idOrName string) error {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	return c.exec.Resume(ctx, ref.ID)
}

// Resize sets the size of a container's terminal.
func (c *Containers) Resize(ctx context.Context, idOrName string, height, width uint) error {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	return c.exec.Resize(ctx, ref.ID, uint32(height), uint32(width))
}

// Wait returns, once the container is resolved, a function that blocks
// until it meets the condition (not-running when empty), as docker wait
// and docker run do, and reports its exit code.
func (c *Containers) Wait(ctx context.Context, idOrName string, cond containertypes.WaitCondition) (func(ctx context.Context) (int, error), error) {
	switch cond {
	case "", containertypes.WaitConditionNotRunning, containertypes.WaitConditionNextExit, containertypes.WaitConditionRemoved:
	default:
		return nil, errdefs.Invalid("invalid condition: %q: want not-running, next-exit or removed", cond)
	}
	ref, l, err := c.resolve(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	if l == nil {
		if cond == containertypes.WaitConditionRemoved {
			return nil, errdefs.Invalid("cannot wait for the removal of container %s: it runs a swarm task, which the swarm removes", ref.Name)
		}
		return func(ctx context.Context) (int, error) { return c.exec.WaitExit(ctx, ref.ID) }, nil
	}
	l.mu.Lock()
	running := l.run != nil || l.restart != nil
	exited, gone, last := l.exited, l.gone, l.lastExit
	l.mu.Unlock()
	if (cond == "" || cond == containertypes.WaitConditionNotRunning) && !running {
		return func(context.Context) (int, error) { return last, nil }, nil
	}
	until := exited
	if cond == containertypes.WaitConditionRemoved {
		until = gone
	}
	return func(ctx context.Context) (int, error) {
		select {
		case <-until:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.lastExit, nil
	}, nil
}

// Attach attaches a client to a plain container's streams, for the
// current run or else the next, and returns when that run ends, the
// client detaches or ctx ends. Once the container is found, ready is told
// whether it has a TTY (for the stream's framing) and gives the client's
// streams.
func (c *Containers) Attach(ctx context.Context, idOrName string, ready func(tty bool) (AttachOptions, error)) error {
	ref, l, err := c.plain(ctx, idOrName, "attach to")
	if err != nil {
		return err
	}
	insp, err := c.exec.Inspect(ctx, ref.ID)
	if err != nil {
		return err
	}
	if insp.State.Paused {
		return errdefs.Conflict("container %s is paused, unpause the container before attach", idOrName)
	}
	opts, err := ready(l.stdio.tty)
	if err != nil {
		return err
	}
	closeStdin := func(ctx context.Context) error {
		l.mu.Lock()
		run := l.run
		l.mu.Unlock()
		if run == nil {
			return nil
		}
		return run.CloseStdin(ctx)
	}
	opts.CloseStdin = opts.CloseStdin || insp.Config.StdinOnce
	err = l.stdio.attach(ctx, opts, closeStdin)
	if err == errDetached {
		return nil
	}
	return err
}

// Top lists a running container's processes as docker top: the host's
// ps with psArgs (-ef by default), keeping the container's processes.
func (c *Containers) Top(ctx context.Context, idOrName, psArgs string) (containertypes.TopResponse, error) {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return containertypes.TopResponse{}, err
	}
	pids, err := c.exec.Pids(ctx, ref.ID)
	if err != nil {
		return containertypes.TopResponse{}, err
	}
	args := strings.Fields(cmp.Or(psArgs, "-ef"))
	out, err := exec.CommandContext(ctx, "ps", args...).Output()
	if err != nil {
		return containertypes.TopResponse{}, errdefs.Invalid("ps %s: %v", strings.Join(args, " "), err)
	}
	return parsePS(out, pids)
}

// parsePS keeps the lines of ps output whose PID column is one of pids;
// the last column (the command) keeps its spaces.
func parsePS(out []byte, pids []int) (containertypes.TopResponse, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	titles := strings.Fields(lines[0])
	col := slices.Index(titles, "PID")
	if col < 0 {
		return containertypes.TopResponse{}, errdefs.Invalid("Couldn't find PID field in ps output")
	}
	resp := containertypes.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= col {
			continue
		}
		pid, err := strconv.Atoi(f[col])
		if err != nil || !slices.Contains(pids, pid) {
			continue
		}
		if len(f) > len(titles) {
			last := strings.Join(f[len(titles)-1:], " ")
			f = append(f[:len(titles)-1], last)
		}
		resp.Processes = append(resp.Processes, f)
	}
	return resp, nil
}

// Close stops watching the plain containers and copying their stdio; the
// processes run on, and a new engine over the same state adopts them.
func (c *Containers) Close() {
	c.cancel()
	c.mu.Lock()
	lives := make([]*live, 0, len(c.live))
	for _, l := range c.live {
		lives = append(lives, l)
	}
	c.mu.Unlock()
	for _, l := range lives {
		l.mu.Lock()
		c.cancelRestart(l)
		if l.run != nil {
			l.run.Detach()
			l.runIO.closeStdin()
		}
		l.mu.Unlock()
	}
	c.wg.Wait()
}

// restore takes up the plain containers an earlier daemon left: a running
// one is adopted (its stdio attached again, its ports published again);
// one that is not running is started when its restart policy asks it on
// a daemon's start. Containers half made by a create cut short go.
func (c *Containers) restore(ctx context.Context) error {
	ovs, err := c.exec.Overviews(ctx)
	if err != nil {
		return err
	}
	exists := map[string]containerdexec.Overview{}
	for _, ov := range ovs {
		exists[ov.Summary.ID] = ov
		if ov.Summary.Labels[containerdexec.LabelTaskID] == "" && !c.store.Has(ov.Summary.ID) {
			c.log.Warn("removing a container left by a create cut short", "container.id", ov.Summary.ID)
			if err := c.exec.RemoveContainer(ctx, ov.Summary.ID, true); err != nil {
				c.log.Warn("remove a half-made container", "container.id", ov.Summary.ID, "err", err)
			}
		}
	}
	for _, ctr := range c.store.All() {
		ov, ok := exists[ctr.ID]
		if !ok {
			c.log.Warn("forgetting a container whose runtime is gone", "container.id", ctr.ID, "container.name", ctr.Name)
			if err := c.store.Delete(ctr.ID); err != nil {
				return err
			}
			continue
		}
		c.restoreOne(ctx, ctr, ov)
	}
	return nil
}

func (c *Containers) restoreOne(ctx context.Context, ctr *container.Container, ov containerdexec.Overview) {
	l := c.addLive(ctr)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastExit = ov.ExitCode
	sio, rio, err := l.stdio.begin()
	if err != nil {
		c.log.Warn("open the log of a container", "container.id", ctr.ID, "err", err)
		return
	}
	run, err := c.exec.AdoptContainer(ctx, ctr.ID, sio)
	if err == nil {
		l.run, l.runIO = run, rio
		if err := c.publish(ctx, ctr.ID, ctr.Ports); err != nil {
			c.log.Warn("publish the ports of an adopted container", "container.id", ctr.ID, "err", err)
		}
		c.watch(ctr.ID, l, run, rio)
		c.log.Info("adopted a running container", "container.id", ctr.ID, "container.name", ctr.Name)
		return
	}
	l.stdio.end(rio)
	if !errdefs.Is(err, errdefs.KindNotFound) {
		c.log.Warn("adopt a container", "container.id", ctr.ID, "err", err)
	}
	if len(ctr.Ports) > 0 {
		c.store.Update(ctr.ID, func(ctr *container.Container) error { ctr.Ports = nil; return nil })
	}
	if !container.OnBoot(ctr.HostConfig.RestartPolicy, ov.Started, ctr.ManuallyStopped, ov.ExitCode, ctr.RestartCount) {
		return
	}
	c.log.Info("starting a container by its restart policy, as the daemon starts", "container.id", ctr.ID, "container.name", ctr.Name)
	if err := c.startLocked(c.ctx, ctr.ID, l); err != nil {
		c.log.Warn("start a container by its restart policy", "container.id", ctr.ID, "err", err)
		c.scheduleRestart(ctr.ID, l, ctr, container.Exit{Code: ov.ExitCode})
	}
}
