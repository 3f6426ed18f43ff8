package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// action is the next thing a task manager does.
type action int

const (
	actIdle     action = iota // nothing until the task changes
	actAccept                 // report accepted
	actPrepare                // report preparing, then Prepare
	actStart                  // report starting, then Start
	actWait                   // wait for the process to exit
	actShutdown               // stop the process, report shutdown
	actRemove                 // remove the container of an ended task
	actForget                 // the task was deleted: stop, remove, end
)

func (a action) String() string {
	return [...]string{"idle", "accept", "prepare", "start", "wait", "shutdown", "remove", "forget"}[a]
}

// decide picks a task's next action from what the manager wants (its
// desired state, or that it deleted the task) and where the task is (its
// latest status, and whether its container was removed already).
func decide(desired swarm.TaskState, deleted bool, state swarm.TaskState, containerRemoved bool) action {
	switch {
	case deleted:
		return actForget
	case taskstate.Rank(desired) > taskstate.Rank(swarm.TaskStateRunning):
		if !taskstate.Terminal(state) {
			return actShutdown
		}
		if desired == swarm.TaskStateRemove && !containerRemoved {
			return actRemove
		}
		return actIdle
	case taskstate.Terminal(state):
		return actIdle
	case taskstate.Rank(state) < taskstate.Rank(swarm.TaskStateAccepted):
		return actAccept
	case taskstate.Rank(state) < taskstate.Rank(swarm.TaskStateReady):
		return actPrepare
	case taskstate.Rank(state) < taskstate.Rank(swarm.TaskStateRunning):
		return actStart
	}
	return actWait
}

// exitStatus is the status of a task whose process ended by itself.
func exitStatus(exit executor.ExitStatus) (swarm.TaskState, string, string) {
	if exit.Code == 0 && !exit.OOMKilled {
		return swarm.TaskStateComplete, "finished", ""
	}
	errText := fmt.Sprintf("task: non-zero exit (%d)", exit.Code)
	if exit.OOMKilled {
		errText += ": OOM killed"
	}
	return swarm.TaskStateFailed, "started", errText
}

// taskManager walks one task through its life with the executor's
// controller and reports each step. Its goroutine (run) is the only one
// that acts on the container; the session only hands it newer assignments.
type taskManager struct {
	id     string
	ctlr   executor.Controller
	report func(taskID string, st swarm.TaskStatus)
	clock  Clock
	log    *slog.Logger

	// status is the task's latest status, reported or assigned; only run
	// touches it.
	status           swarm.TaskStatus
	containerRemoved bool // only run touches it

	mu      sync.Mutex
	task    *store.Task // the latest assignment; guarded by mu
	deleted bool        // the task left the assignment set; guarded by mu

	wake chan struct{} // capacity 1: the task changed

	// stopCtx ends the Prepare, Start or Wait in progress once the task
	// must stop; stop is called when it must.
	stopCtx context.Context
	stop    context.CancelFunc
}

func newTaskManager(ctx context.Context, t *store.Task, ctlr executor.Controller, report func(string, swarm.TaskStatus), clock Clock, log *slog.Logger) *taskManager {
	m := &taskManager{
		id:     t.ID,
		ctlr:   ctlr,
		report: report,
		clock:  clock,
		log:    log.With("task.id", t.ID),
		status: t.Status,
		task:   t,
		wake:   make(chan struct{}, 1),
	}
	m.stopCtx, m.stop = context.WithCancel(ctx)
	m.update(t)
	return m
}

// update hands the manager a newer assignment of its task.
func (m *taskManager) update(t *store.Task) {
	m.mu.Lock()
	m.task = t
	m.mu.Unlock()
	if taskstate.Rank(t.DesiredState) > taskstate.Rank(swarm.TaskStateRunning) {
		m.stop()
	}
	m.poke()
}

// forget tells the manager that its task was deleted.
func (m *taskManager) forget() {
	m.mu.Lock()
	m.deleted = true
	m.mu.Unlock()
	m.stop()
	m.poke()
}

func (m *taskManager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run drives the task until ctx ends or the task is deleted. Containers
// outlive ctx: an agent that stops leaves them for the next to adopt.
func (m *taskManager) run(ctx context.Context) {
	defer m.stop()
	for ctx.Err() == nil {
		m.mu.Lock()
		desired, deleted := m.task.DesiredState, m.deleted
		m.mu.Unlock()
		act := decide(desired, deleted, m.status.State, m.containerRemoved)
		switch act {
		case actIdle:
			select {
			case <-ctx.Done():
			case <-m.wake:
			}
		case actAccept:
			m.transition(ctx, swarm.TaskStateAccepted, "accepted", "", nil)
		case actPrepare:
			m.transition(ctx, swarm.TaskStatePreparing, "preparing", "", nil)
			if err := m.ctlr.Prepare(m.stopCtx); err != nil {
				m.fail(ctx, swarm.TaskStateRejected, "preparing", err)
				continue
			}
			m.transition(ctx, swarm.TaskStateStarting, "starting", "", nil)
		case actStart:
			m.transition(ctx, swarm.TaskStateStarting, "starting", "", nil)
			if err := m.ctlr.Start(m.stopCtx); err != nil {
				m.fail(ctx, swarm.TaskStateFailed, "starting", err)
				continue
			}
			if !m.healthy(ctx) {
				continue
			}
			m.transition(ctx, swarm.TaskStateRunning, "started", "", nil)
		case actWait:
			m.wait(ctx)
		case actShutdown:
			if !m.retry(ctx, "stop", m.ctlr.Shutdown, 0) {
				continue
			}
			m.transition(ctx, swarm.TaskStateShutdown, "shutdown", "", nil)
		case actRemove:
			if m.retry(ctx, "remove", m.ctlr.Remove, 0) {
				m.containerRemoved = true
			}
		case actForget:
			// Nobody reads statuses of a deleted task: stop and clean up,
			// giving up after a few tries rather than forever.
			if m.retry(ctx, "stop", m.ctlr.Shutdown, forgetAttempts) {
				m.retry(ctx, "remove", m.ctlr.Remove, forgetAttempts)
			}
			return
		}
	}
}

// healthy waits until the container's health check, when it has one,
// has passed: a task is not running for the managers (an update waits on
// it) before then. It reports whether it passed; when not, it has
// reported what happened instead, or the task must stop.
func (m *taskManager) healthy(ctx context.Context) bool {
	hw, ok := m.ctlr.(executor.HealthWaiter)
	if !ok {
		return true
	}
	err := hw.WaitHealthy(m.stopCtx)
	switch {
	case err == nil:
		return true
	case errors.Is(err, executor.ErrUnhealthy):
		m.log.Info("container unhealthy before it was ever healthy; killing it")
		m.kill(ctx)
		m.waitExit(ctx, executor.ErrUnhealthy)
	case errors.Is(err, executor.ErrExited):
		m.waitExit(ctx, nil)
	default:
		m.fail(ctx, swarm.TaskStateFailed, "starting", err)
	}
	return false
}

// wait waits for the task's process to exit and reports how it ended.
// A container that turns unhealthy meanwhile is killed, and the task
// fails with the reason.
func (m *taskManager) wait(ctx context.Context) {
	hw, ok := m.ctlr.(executor.HealthWaiter)
	if !ok {
		m.waitExit(ctx, nil)
		return
	}
	watchCtx, cancel := context.WithCancel(m.stopCtx)
	unhealthy, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		if hw.WaitUnhealthy(watchCtx) == nil {
			close(unhealthy)
			m.log.Info("container unhealthy; killing it")
			m.kill(watchCtx)
		}
	}()
	exit, err := m.ctlr.Wait(m.stopCtx)
	cancel()
	<-watched
	var cause error
	select {
	case <-unhealthy:
		cause = executor.ErrUnhealthy
	default:
	}
	m.exited(ctx, exit, err, cause)
}

// waitExit waits for the task's process to exit and reports how it
// ended; cause, when set, is why it did.
func (m *taskManager) waitExit(ctx context.Context, cause error) {
	exit, err := m.ctlr.Wait(m.stopCtx)
	m.exited(ctx, exit, err, cause)
}

func (m *taskManager) exited(ctx context.Context, exit executor.ExitStatus, err, cause error) {
	if err != nil {
		m.fail(ctx, swarm.TaskStateFailed, "started", err)
		return
	}
	state, msg, errText := exitStatus(exit)
	if cause != nil {
		state, errText = swarm.TaskStateFailed, fmt.Sprintf("task: non-zero exit (%d): %v", exit.Code, cause)
	}
	m.transition(ctx, state, msg, errText, &exit)
}

// kill kills the task's process, as dockerd kills an unhealthy swarm
// task's container; Wait then reports its exit.
func (m *taskManager) kill(ctx context.Context) {
	if err := m.ctlr.Terminate(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("cannot kill the task's container", "err", err)
	}
}

// forgetAttempts bounds the tries to clean up after a deleted task.
const forgetAttempts = 5

// fail records that a step failed with err, unless it failed only because
// the task must stop or the agent is stopping: the next decision handles
// those.
func (m *taskManager) fail(ctx context.Context, state swarm.TaskState, msg string, err error) {
	if ctx.Err() != nil || m.stopCtx.Err() != nil {
		return
	}
	m.log.Info("task "+string(state), "err", err)
	m.transition(ctx, state, msg, err.Error(), nil)
}

// transition reports a new status, only ever forward: a step repeated after
// an adoption or a retry reports nothing.
func (m *taskManager) transition(ctx context.Context, state swarm.TaskState, msg, errText string, exit *executor.ExitStatus) {
	if taskstate.Rank(state) <= taskstate.Rank(m.status.State) {
		return
	}
	st := swarm.TaskStatus{State: state, Message: msg, Err: errText, Timestamp: m.clock.Now()}
	if cs, err := m.ctlr.ContainerStatus(ctx); err == nil {
		st.ContainerStatus = cs
	} else if m.status.ContainerStatus != nil {
		c := *m.status.ContainerStatus
		st.ContainerStatus = &c
	}
	if exit != nil {
		if st.ContainerStatus == nil {
			st.ContainerStatus = &swarm.ContainerStatus{}
		}
		st.ContainerStatus.PID = 0
		st.ContainerStatus.ExitCode = exit.Code
	}
	m.status = st
	m.report(m.id, st)
	// With the time of each, these lines show where a task's start goes
	// (bench/converge-trace.sh).
	m.log.Debug("task state", "state", state)
}

// retry calls op until it succeeds, with backoff, up to attempts times (0:
// until ctx ends). It reports whether op succeeded.
func (m *taskManager) retry(ctx context.Context, what string, op func(context.Context) error, attempts int) bool {
	for i := 0; attempts == 0 || i < attempts; i++ {
		err := op(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		m.log.Warn("cannot "+what+" task's container; retrying", "attempt", i+1, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-m.clock.After(backoff(i)):
		}
	}
	m.log.Error("gave up trying to "+what+" task's container", "attempts", attempts)
	return false
}
