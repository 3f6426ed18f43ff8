// Package fakeexec is an executor whose containers are simulated: each
// follows a script (run until stopped, exit with a code after a while, fail
// to prepare, hang on start…) on an injectable clock, so that clusters of
// hundreds of agents run inside one test process. It is for simulation and
// tests only, never what a node runs by default.
package fakeexec

import (
	"context"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/identity"
)

// Script is how a simulated task's container behaves. The zero Script
// prepares and starts at once and runs until it is stopped.
type Script struct {
	// PrepareErr, when set, is what Prepare fails with, as a missing image
	// would (see NoSuchImage). No container is made.
	PrepareErr error
	// PrepareTime is how long Prepare takes, as an image pull would.
	PrepareTime time.Duration
	// StartErr, when set, is what Start fails with.
	StartErr error
	// Hang makes Start block until its context ends: a task that never
	// starts.
	Hang bool
	// ExitAfter is how long the process runs before it exits by itself
	// with ExitCode (and OOMKilled); 0 runs until it is stopped.
	ExitAfter time.Duration
	ExitCode  int
	OOMKilled bool
	// IgnoreStop makes the process ignore its stop signal, so Shutdown
	// waits for the task's stop grace period and then kills it.
	IgnoreStop bool
	// Healthcheck gives the container a health check, which passes
	// HealthyAfter after the start and fails for good UnhealthyAfter
	// after the start (0: never; before HealthyAfter: it never passes).
	// Executor.MakeUnhealthy fails it at any time.
	Healthcheck    bool
	HealthyAfter   time.Duration
	UnhealthyAfter time.Duration
}

// Exit codes of a process stopped by a signal, as a shell reports them.
const (
	ExitSIGTERM = 128 + 15
	ExitSIGKILL = 128 + 9
)

// defaultStopGrace is Docker's stop grace period.
const defaultStopGrace = 10 * time.Second

// NoSuchImage is the error Prepare returns for an image that cannot be had.
func NoSuchImage(ref string) error {
	return errdefs.NotFound("No such image: %s", ref)
}

// Config sets up an Executor.
type Config struct {
	// Clock drives every simulated time; nil is the wall clock.
	Clock Clock
	// Hostname is the node's name in Describe; "fake" when empty.
	Hostname string
	// Resources are the node's resources in Describe; 4 CPUs and 8 GiB
	// when zero.
	Resources swarm.Resources
	// Script says how each task behaves; nil runs every task until it is
	// stopped. It is called once per container, when Prepare makes it.
	Script func(t *swarm.Task) Script
}

// Executor simulates the containers of one node. Its containers outlive any
// agent that uses it, so a new agent on the same Executor adopts them as a
// restarted agent adopts real containers.
type Executor struct {
	cfg Config

	mu         sync.Mutex
	containers map[string]*container // by task ID; guarded by mu
	nextPID    int                   // guarded by mu
}

var _ executor.Executor = (*Executor)(nil)

// New returns an Executor with no containers.
func New(cfg Config) *Executor {
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "fake"
	}
	if cfg.Resources.NanoCPUs == 0 && cfg.Resources.MemoryBytes == 0 {
		cfg.Resources = swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}
	}
	return &Executor{cfg: cfg, containers: map[string]*container{}, nextPID: 1000}
}

// Describe implements executor.Executor.
func (e *Executor) Describe(context.Context) (*swarm.NodeDescription, error) {
	return &swarm.NodeDescription{
		Hostname:  e.cfg.Hostname,
		Platform:  swarm.Platform{Architecture: "x86_64", OS: "linux"},
		Resources: e.cfg.Resources,
		Engine:    swarm.EngineDescription{EngineVersion: "fakeexec"},
	}, nil
}

// Controller implements executor.Executor.
func (e *Executor) Controller(t *swarm.Task, deps executor.Dependencies) (executor.Controller, error) {
	if t == nil || t.ID == "" {
		return nil, errdefs.Invalid("fakeexec: a controller needs a task with an ID")
	}
	return &controller{e: e, task: t}, nil
}

// ContainerInfo is what a test sees of a simulated container.
type ContainerInfo struct {
	ID     string
	TaskID string
	// State is "created", "running" or "exited".
	State    string
	Starts   int // how many times the process was started
	ExitCode int
}

// Container returns the container of a task, if it exists.
func (e *Executor) Container(taskID string) (ContainerInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[taskID]
	if !ok {
		return ContainerInfo{}, false
	}
	return c.info(e.cfg.Clock.Now()), true
}

// Containers returns every container, in no particular order.
func (e *Executor) Containers() []ContainerInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Clock.Now()
	out := make([]ContainerInfo, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, c.info(now))
	}
	return out
}

// Crash makes a task's running process exit now with code, as if it died
// on its own (or the node lost it while its agent was down).
func (e *Executor) Crash(taskID string, code int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[taskID]
	if !ok {
		return errdefs.NotFound("fakeexec: no container for task %s", taskID)
	}
	now := e.cfg.Clock.Now()
	if c.state(now) != stateRunning {
		return errdefs.Precondition("fakeexec: container of task %s is not running", taskID)
	}
	c.exit(executor.ExitStatus{Code: code, At: now})
	return nil
}

const (
	stateCreated = "created"
	stateRunning = "running"
	stateExited  = "exited"
)

// container is one simulated container. Its fields are guarded by the
// Executor's mu.
type container struct {
	id        string
	taskID    string
	script    Script
	grace     time.Duration
	pid       int
	starts    int
	startedAt time.Time            // zero until started
	exited    *executor.ExitStatus // set once the process ended
	done      chan struct{}        // closed when exited is set
	unhealthy bool                 // MakeUnhealthy was called
	// healthChanged is closed and replaced when MakeUnhealthy is called.
	healthChanged chan struct{}
}

func (c *container) info(now time.Time) ContainerInfo {
	info := ContainerInfo{ID: c.id, TaskID: c.taskID, State: c.state(now), Starts: c.starts}
	if c.exited != nil {
		info.ExitCode = c.exited.Code
	}
	return info
}

// state is evaluated lazily: a process scripted to exit after a while has
// exited as soon as the clock says so, whoever looks first.
func (c *container) state(now time.Time) string {
	if c.startedAt.IsZero() {
		return stateCreated
	}
	if c.exited == nil && c.script.ExitAfter > 0 && !now.Before(c.exitAt()) {
		c.exit(executor.ExitStatus{Code: c.script.ExitCode, OOMKilled: c.script.OOMKilled, At: c.exitAt()})
	}
	if c.exited != nil {
		return stateExited
	}
	return stateRunning
}

func (c *container) exitAt() time.Time { return c.startedAt.Add(c.script.ExitAfter) }

func (c *container) exit(st executor.ExitStatus) {
	if c.exited != nil {
		return
	}
	c.exited = &st
	close(c.done)
}

// controller drives the container of one task.
type controller struct {
	e    *Executor
	task *swarm.Task
}

func (c *controller) lookup() (*container, error) {
	ctr, ok := c.e.containers[c.task.ID]
	if !ok {
		return nil, errdefs.NotFound("fakeexec: no container for task %s", c.task.ID)
	}
	return ctr, nil
}

// Prepare makes the container, or finds the one that exists.
func (c *controller) Prepare(ctx context.Context) error {
	c.e.mu.Lock()
	_, exists := c.e.containers[c.task.ID]
	c.e.mu.Unlock()
	if exists {
		return nil
	}
	script := Script{}
	if c.e.cfg.Script != nil {
		script = c.e.cfg.Script(c.task)
	}
	if script.PrepareTime > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.e.cfg.Clock.After(script.PrepareTime):
		}
	}
	if script.PrepareErr != nil {
		return script.PrepareErr
	}
	grace := defaultStopGrace
	if cs := c.task.Spec.ContainerSpec; cs != nil && cs.StopGracePeriod != nil {
		grace = *cs.StopGracePeriod
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if _, ok := c.e.containers[c.task.ID]; !ok {
		c.e.containers[c.task.ID] = &container{
			id:     identity.NewContainerID(),
			taskID: c.task.ID,
			script: script,
			grace:  grace,
			done:   make(chan struct{}),

			healthChanged: make(chan struct{}),
		}
	}
	return nil
}

// Start starts the process once; a container that was started before is
// left as it is, running or exited.
func (c *controller) Start(ctx context.Context) error {
	c.e.mu.Lock()
	ctr, err := c.lookup()
	if err != nil {
		c.e.mu.Unlock()
		return err
	}
	if !ctr.startedAt.IsZero() {
		c.e.mu.Unlock()
		return nil
	}
	script := ctr.script
	c.e.mu.Unlock()
	if script.Hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if script.StartErr != nil {
		return script.StartErr
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if ctr.startedAt.IsZero() {
		ctr.startedAt = c.e.cfg.Clock.Now()
		ctr.starts++
		c.e.nextPID++
		ctr.pid = c.e.nextPID
	}
	return nil
}

// Wait blocks until the process exits, also when it exited before.
func (c *controller) Wait(ctx context.Context) (executor.ExitStatus, error) {
	for {
		c.e.mu.Lock()
		ctr, err := c.lookup()
		if err != nil {
			c.e.mu.Unlock()
			return executor.ExitStatus{}, err
		}
		now := c.e.cfg.Clock.Now()
		switch ctr.state(now) {
		case stateCreated:
			c.e.mu.Unlock()
			return executor.ExitStatus{}, errdefs.Precondition("fakeexec: container %s has not been started", ctr.id)
		case stateExited:
			st := *ctr.exited
			c.e.mu.Unlock()
			return st, nil
		}
		var timer <-chan time.Time
		if ctr.script.ExitAfter > 0 {
			timer = c.e.cfg.Clock.After(ctr.exitAt().Sub(now))
		}
		done := ctr.done
		c.e.mu.Unlock()
		select {
		case <-ctx.Done():
			return executor.ExitStatus{}, ctx.Err()
		case <-done:
		case <-timer:
		}
	}
}

// Shutdown stops the process: at once, or after the stop grace period when
// the script ignores the stop signal.
func (c *controller) Shutdown(ctx context.Context) error {
	c.e.mu.Lock()
	ctr, ok := c.e.containers[c.task.ID]
	if !ok || ctr.state(c.e.cfg.Clock.Now()) != stateRunning {
		c.e.mu.Unlock()
		return nil
	}
	if !ctr.script.IgnoreStop {
		ctr.exit(executor.ExitStatus{Code: ExitSIGTERM, At: c.e.cfg.Clock.Now()})
		c.e.mu.Unlock()
		return nil
	}
	grace, done := ctr.grace, ctr.done
	c.e.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return nil
	case <-c.e.cfg.Clock.After(grace):
	}
	return c.Terminate(ctx)
}

// Terminate kills the process at once.
func (c *controller) Terminate(context.Context) error {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	ctr, ok := c.e.containers[c.task.ID]
	if !ok {
		return nil
	}
	now := c.e.cfg.Clock.Now()
	if ctr.state(now) == stateRunning {
		ctr.exit(executor.ExitStatus{Code: ExitSIGKILL, At: now})
	}
	return nil
}

// Remove kills the process if it runs and deletes the container.
func (c *controller) Remove(ctx context.Context) error {
	if err := c.Terminate(ctx); err != nil {
		return err
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	delete(c.e.containers, c.task.ID)
	return nil
}

// ContainerStatus reports the container's ID, its PID while it runs and
// its exit code once it exited.
func (c *controller) ContainerStatus(context.Context) (*swarm.ContainerStatus, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	ctr, err := c.lookup()
	if err != nil {
		return nil, err
	}
	st := &swarm.ContainerStatus{ContainerID: ctr.id}
	switch ctr.state(c.e.cfg.Clock.Now()) {
	case stateRunning:
		st.PID = ctr.pid
	case stateExited:
		st.ExitCode = ctr.exited.Code
	}
	return st, nil
}
