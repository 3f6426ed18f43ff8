package containerdexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/metrics"
)

// This file runs containers' health checks as dockerd does: a probe
// exec'd in the container every interval (the start interval during the
// start period), its last results and the status they make kept in the
// container's directory (health.json), so that a daemon that restarts
// shows them and goes on from them for the containers it adopts.

// Docker's health check defaults and bounds.
const (
	defaultProbeInterval      = 30 * time.Second
	defaultProbeTimeout       = 30 * time.Second
	defaultProbeStartInterval = 5 * time.Second
	defaultProbeRetries       = 3
	maxHealthLog              = 5    // results kept in State.Health.Log
	maxProbeOutput            = 4096 // bytes of a probe's output kept
)

var _ executor.HealthWaiter = (*controller)(nil)

// healthCheck returns the container's health check with Docker's defaults
// filled in, or nil when it has none (no test, or NONE).
func healthCheck(hc *container.HealthConfig) *container.HealthConfig {
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil
	}
	c := *hc
	if c.Interval <= 0 {
		c.Interval = defaultProbeInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultProbeTimeout
	}
	if c.StartInterval <= 0 {
		c.StartInterval = defaultProbeStartInterval
	}
	if c.Retries <= 0 {
		c.Retries = defaultProbeRetries
	}
	return &c
}

// mergeHealthcheck is the health check of a container whose spec has
// spec and whose image has img, as dockerd merges them: the spec's, with
// what it leaves unset taken from the image's.
func mergeHealthcheck(spec, img *container.HealthConfig) *container.HealthConfig {
	if spec == nil {
		return img
	}
	c := *spec
	if img == nil {
		return &c
	}
	if len(c.Test) == 0 {
		c.Test = img.Test
	}
	if c.Interval == 0 {
		c.Interval = img.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = img.Timeout
	}
	if c.StartPeriod == 0 {
		c.StartPeriod = img.StartPeriod
	}
	if c.StartInterval == 0 {
		c.StartInterval = img.StartInterval
	}
	if c.Retries == 0 {
		c.Retries = img.Retries
	}
	return &c
}

// probeCommand is the command a health check's test runs: ["CMD", args...]
// as given, ["CMD-SHELL", command] through shell (the image's SHELL;
// /bin/sh -c when it has none).
func probeCommand(test, shell []string) ([]string, error) {
	switch {
	case len(test) >= 2 && test[0] == "CMD":
		return test[1:], nil
	case len(test) == 2 && test[0] == "CMD-SHELL":
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(slices.Clone(shell), test[1]), nil
	}
	return nil, errdefs.Invalid("unknown health check test %q", test)
}

// applyProbe records the result of one probe in h, as dockerd does: a
// pass makes the container healthy; a failure adds to the failing streak,
// except while the container is still starting within its start period,
// and the streak reaching the retries makes it unhealthy.
func applyProbe(h *container.Health, r container.HealthcheckResult, hc *container.HealthConfig, startedAt time.Time) {
	if r.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = container.Healthy
	} else if h.Status != container.Starting || r.Start.Sub(startedAt) >= hc.StartPeriod {
		h.FailingStreak++
		if h.FailingStreak >= hc.Retries {
			h.Status = container.Unhealthy
		}
	}
	res := r
	h.Log = append(h.Log, &res)
	if len(h.Log) > maxHealthLog {
		h.Log = h.Log[len(h.Log)-maxHealthLog:]
	}
}

// nextProbe is how long to wait before the next probe: the start interval
// while the container starts within its start period, the interval after.
func nextProbe(h *container.Health, hc *container.HealthConfig, startedAt, now time.Time) time.Duration {
	if h.Status == container.Starting && now.Sub(startedAt) < hc.StartPeriod {
		return hc.StartInterval
	}
	return hc.Interval
}

// healthRecord is health.json: the health of the run that started at
// StartedAt.
type healthRecord struct {
	StartedAt time.Time
	Health    container.Health
}

// readHealth returns the recorded health of container id's run that
// started at startedAt; nil when none is.
func (e *Executor) readHealth(id string, startedAt time.Time) (*container.Health, error) {
	var hr healthRecord
	err := e.readJSON(id, "health.json", &hr)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !hr.StartedAt.Equal(startedAt) {
		return nil, nil
	}
	return &hr.Health, nil
}

// healthMonitor probes one running container and holds its health.
type healthMonitor struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when probing stopped: the process exited, or the container was removed

	mu      sync.Mutex
	health  container.Health // guarded by mu
	changed chan struct{}    // guarded by mu; closed and replaced when health changes
}

// state returns the container's health and a channel closed when it
// changes.
func (m *healthMonitor) state() (container.Health, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health
	h.Log = slices.Clone(m.health.Log)
	return h, m.changed
}

func (m *healthMonitor) apply(r container.HealthcheckResult, hc *container.HealthConfig, startedAt time.Time) container.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	applyProbe(&m.health, r, hc, startedAt)
	close(m.changed)
	m.changed = make(chan struct{})
	h := m.health
	h.Log = slices.Clone(m.health.Log)
	return h
}

// monitor returns the health monitor of container ctr, starting it when
// ctr runs and has a health check. It returns nil without a health check,
// and without a monitor when the container is not running.
func (e *Executor) monitor(ctx context.Context, ctr client.Container, rec *record) (*healthMonitor, observation, error) {
	hc := healthCheck(rec.Config.Healthcheck)
	if hc == nil {
		return nil, observation{}, nil
	}
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	if m := e.health[ctr.ID()]; m != nil {
		return m, observation{}, nil
	}
	obs, err := e.observe(ctx, ctr)
	if err != nil || obs.State != container.StateRunning {
		return nil, obs, err
	}
	cmd, err := probeCommand(hc.Test, rec.Config.Shell)
	if err != nil {
		return nil, obs, err
	}
	health := container.Health{Status: container.Starting}
	if h, err := e.readHealth(ctr.ID(), obs.Run.StartedAt); err != nil {
		return nil, obs, err
	} else if h != nil {
		health = *h
	}
	mctx, cancel := context.WithCancel(e.ns(e.bgCtx))
	m := &healthMonitor{
		cancel:  cancel,
		done:    make(chan struct{}),
		health:  health,
		changed: make(chan struct{}),
	}
	e.health[ctr.ID()] = m
	e.healthWG.Go(func() { e.probeLoop(mctx, ctr, cmd, hc, obs.Run.StartedAt, m) })
	return m, obs, nil
}

// probeLoop probes the container until its process exits or ctx ends.
func (e *Executor) probeLoop(ctx context.Context, ctr client.Container, cmd []string, hc *container.HealthConfig, startedAt time.Time, m *healthMonitor) {
	defer close(m.done)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		e.retryUnavailable(ctx, ctr.ID(), func() error { return e.waitExit(ctx, ctr) })
	}()
	for {
		h, _ := m.state()
		timer := time.NewTimer(nextProbe(&h, hc, startedAt, time.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-exited:
			timer.Stop()
			return
		case <-timer.C:
		}
		r := e.probe(ctx, ctr.ID(), cmd, hc.Timeout)
		select {
		case <-ctx.Done():
			return
		case <-exited:
			return // the probe failed because the process ended: no verdict
		default:
		}
		before := h.Status
		h = m.apply(r, hc, startedAt)
		metrics.HealthChecks.Inc()
		if r.ExitCode != 0 {
			metrics.HealthChecksFailed.Inc()
		}
		if h.Status != before {
			e.containerEvent(ctr.ID(), nil, events.Action("health_status: "+string(h.Status)), nil)
		}
		if err := e.writeJSON(ctr.ID(), "health.json", healthRecord{StartedAt: startedAt, Health: h}); err != nil {
			e.log.Warn("record container health", "container.id", ctr.ID(), "err", err)
		}
	}
}

// probe runs one health check command in container id.
func (e *Executor) probe(ctx context.Context, id string, cmd []string, timeout time.Duration) container.HealthcheckResult {
	r := container.HealthcheckResult{Start: time.Now()}
	out := &limitedBuffer{max: maxProbeOutput}
	cfg := container.ExecCreateRequest{Cmd: cmd, AttachStdout: true, AttachStderr: true}
	x, err := e.startExec(ctx, id, identity.NewContainerID(), cfg, nil, out, out)
	if err != nil {
		r.End, r.ExitCode, r.Output = time.Now(), -1, err.Error()
		return r
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var st client.ExitStatus
	timedOut := false
	select {
	case st = <-x.exited:
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	bg := context.WithoutCancel(ctx)
	if timedOut {
		if err := x.proc.Kill(bg, syscall.SIGKILL); err != nil {
			e.log.Warn("kill timed-out health check", "container.id", id, "err", err)
		}
		st = <-x.exited
	}
	r.ExitCode = e.finishExec(bg, x, st)
	r.End, r.Output = time.Now(), out.String()
	if timedOut {
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
	}
	return r
}

// healthOf returns the health docker inspect shows for container id; nil
// when it has no health check.
func (e *Executor) healthOf(id string, rec *record, obs observation) *container.Health {
	if healthCheck(rec.Config.Healthcheck) == nil {
		return nil
	}
	e.healthMu.Lock()
	m := e.health[id]
	e.healthMu.Unlock()
	if m != nil {
		h, _ := m.state()
		return &h
	}
	if h, err := e.readHealth(id, obs.Run.StartedAt); err == nil && h != nil {
		return h
	}
	return &container.Health{Status: container.Starting}
}

// forgetHealth stops probing container id.
func (e *Executor) forgetHealth(id string) {
	e.healthMu.Lock()
	m := e.health[id]
	delete(e.health, id)
	e.healthMu.Unlock()
	if m != nil {
		m.cancel()
		<-m.done
	}
}

// Close stops the health checks and waits for the removals under way to
// finish (RemoveContainer). Work resumed from an earlier daemon, or waiting
// for containerd to answer again (resumeRemovals, settleLater), stops
// where it is: it is on disk, for the next Executor. Containers keep
// running; a new Executor over the same root goes on checking them.
func (e *Executor) Close() {
	e.bgStop()
	e.healthWG.Wait()
	e.removals.Wait()
}

// WaitHealthy blocks until the container's health check has passed; nil at
// once when it has none. It returns executor.ErrUnhealthy when the check
// failed its retries first and executor.ErrExited when the process ended
// first.
func (c *controller) WaitHealthy(ctx context.Context) error {
	return c.watchHealth(ctx, func(h container.HealthStatus, exited bool) (bool, error) {
		switch {
		case h == container.Healthy:
			return true, nil
		case h == container.Unhealthy:
			return true, executor.ErrUnhealthy
		case exited:
			return true, executor.ErrExited
		}
		return false, nil
	}, true)
}

// WaitUnhealthy blocks until the container's health check has failed its
// retries, and returns nil then. Without a health check, or once the
// process ended, it blocks until ctx ends.
func (c *controller) WaitUnhealthy(ctx context.Context) error {
	return c.watchHealth(ctx, func(h container.HealthStatus, exited bool) (bool, error) {
		return h == container.Unhealthy && !exited, nil
	}, false)
}

// watchHealth calls done with the container's health, and whether its
// process has ended, each time either changes, until done says it is done
// (with its error) or ctx ends. A container without a health check, or
// not running, is done with nil (ErrExited once it ran) for WaitHealthy
// (passWithout), and waits for ctx otherwise.
func (c *controller) watchHealth(ctx context.Context, done func(h container.HealthStatus, exited bool) (bool, error), passWithout bool) error {
	ctx = c.e.ns(ctx)
	ctr, err := c.load(ctx)
	if err != nil {
		return err
	}
	rec, err := c.e.readRecord(c.id)
	if err != nil {
		return fmt.Errorf("read config of %s: %w", c.id, err)
	}
	var m *healthMonitor
	var obs observation
	err = c.e.retryUnavailable(ctx, c.id, func() error {
		var err error
		m, obs, err = c.e.monitor(ctx, ctr, rec)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case m != nil:
	case healthCheck(rec.Config.Healthcheck) == nil && passWithout:
		return nil
	case obs.State == container.StateCreated && passWithout:
		return errdefs.Precondition("container %s has not been started", c.id)
	case obs.State == container.StateExited && passWithout:
		return executor.ErrExited
	default:
		<-ctx.Done()
		return ctx.Err()
	}
	for {
		h, changed := m.state()
		exited := false
		select {
		case <-m.done:
			exited = true
		default:
		}
		if ok, err := done(h.Status, exited); ok {
			return err
		}
		if exited {
			<-ctx.Done()
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-m.done:
		}
	}
}

// limitedBuffer keeps the first max bytes written to it, from several
// writers at once.
type limitedBuffer struct {
	max int

	mu  sync.Mutex
	buf []byte // guarded by mu
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
