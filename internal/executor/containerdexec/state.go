package containerdexec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// runState is how a container's process ran: written when it starts and
// when it has exited, since containerd forgets a task once it is deleted.
type runState struct {
	StartedAt  time.Time `json:",omitzero"`
	FinishedAt time.Time `json:",omitzero"`
	Exited     bool
	ExitCode   int
	OOMKilled  bool
}

func (e *Executor) writeJSON(id, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return writeFileAtomic(filepath.Join(e.dir(id), name), b)
}

func (e *Executor) readJSON(id, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(e.dir(id), name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s of container %s: %w", name, id, err)
	}
	return nil
}

// readRecord returns what Prepare decided for container id.
func (e *Executor) readRecord(id string) (*record, error) {
	var r record
	if err := e.readJSON(id, "config.json", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// readState returns the container's run state; the zero state when it
// never started.
func (e *Executor) readState(id string) (runState, error) {
	var s runState
	err := e.readJSON(id, "state.json", &s)
	if errors.Is(err, os.ErrNotExist) {
		return runState{}, nil
	}
	return s, err
}

// writeFileAtomic replaces path with b so that a reader never sees half of
// it, also when the daemon dies while writing.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// reap records how the exited process of container c ended and deletes its
// task, which stops the shim and lets the log driver finish the log. It is
// a no-op when the task is gone or still running. Swarm never starts a
// container twice, so an exited task has nothing more to give.
func (e *Executor) reap(ctx context.Context, c client.Container) error {
	return e.reapTask(ctx, c, false)
}

// reapTask is reap; with keepTask it records the exit and leaves the task
// for a removal to delete. The exit is recorded once: a task whose exit
// is recorded already (kept, then reaped again) is only deleted.
func (e *Executor) reapTask(ctx context.Context, c client.Container, keepTask bool) error {
	id := c.ID()
	unlock := e.locks.lock(id)
	defer unlock()

	task, err := c.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load task of %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status of %s: %w", id, err)
	}
	if st.Status != client.Stopped {
		return nil
	}
	rs, err := e.readState(id)
	if err != nil {
		return err
	}
	if !rs.Exited {
		if err := e.recordExit(ctx, c, rs, st); err != nil {
			return err
		}
	}
	if keepTask {
		return nil
	}
	e.closeShimGroup(ctx, c)
	if _, err := task.Delete(ctx); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("delete task of %s: %w", id, err)
	}
	e.unmountVolumes(ctx, id)
	return nil
}

// recordExit writes the end of container c's run (rs, as started) from
// its stopped task's status st, and tells it as events; the caller holds
// c's lock.
func (e *Executor) recordExit(ctx context.Context, c client.Container, rs runState, st client.Status) error {
	id := c.ID()
	// The cgroup, with its OOM count, lives until the task is deleted.
	oom := false
	if spec, err := c.Spec(ctx); err == nil && spec.Linux != nil {
		oom, err = oomKilled(spec.Linux.CgroupsPath)
		if err != nil {
			e.log.Warn("cannot tell whether the container was OOM-killed", "container.id", id, "err", err)
		}
	}
	rs.Exited, rs.ExitCode, rs.FinishedAt, rs.OOMKilled = true, int(st.ExitStatus), st.ExitTime, oom
	if err := e.writeJSON(id, "state.json", rs); err != nil {
		return err
	}
	// Once per container: the exit is recorded here and nowhere else.
	if oom {
		e.containerEvent(id, nil, events.ActionOOM, nil)
	}
	e.containerEvent(id, nil, events.ActionDie, dieAttributes(rs))
	return nil
}

// oomKilled reports whether the kernel's OOM killer killed a process in
// the cgroup at path (a cgroupfs path such as /shoal/ID), on cgroup v1 or
// v2. A count survives the event, unlike a notification, so an OOM kill
// that happened while the daemon was down is still seen.
func oomKilled(path string) (bool, error) {
	candidates := []string{
		filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control"), // v1
		filepath.Join("/sys/fs/cgroup", path, "memory.events"),             // v2
	}
	for _, f := range candidates {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		return oomKillCount(b) > 0, nil
	}
	return false, fmt.Errorf("no memory cgroup at %s", path)
}

// oomKillCount returns the oom_kill count of a memory.oom_control (v1) or
// memory.events (v2) file.
func oomKillCount(b []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 2 && string(f[0]) == "oom_kill" {
			n, _ := strconv.Atoi(string(f[1]))
			return n
		}
	}
	return 0
}

// lostExitCode is the exit code of a container whose process vanished
// without a recorded exit, as after a reboot of the host: dockerd reports
// 255 for those.
const lostExitCode = 255

// observation is what a container's process is doing now.
type observation struct {
	State container.ContainerState
	Pid   int // while running or paused
	Run   runState
}

// observe looks at container ctr's task and run state. The task of a
// failed start still owed its delete is deleted first (abortStart); a task
// found stopped is reaped first, so that its exit (and OOM kill) is recorded
// whoever looks first. A container removed meanwhile is errdefs.NotFound.
func (e *Executor) observe(ctx context.Context, ctr client.Container) (observation, error) {
	if err := e.settleAbortedStart(ctx, ctr.ID()); err != nil {
		// Told as it is, running, rather than failing every view.
		e.log.Warn("kill the task of a failed start", "container.id", ctr.ID(), "err", err)
	}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return e.observeEnded(ctx, ctr)
	}
	if err != nil {
		return observation{}, fmt.Errorf("load task of %s: %w", ctr.ID(), err)
	}
	st, err := task.Status(ctx)
	if cerrdefs.IsNotFound(err) {
		// Reaped or removed since it was loaded. The client has converted
		// the error already: converting it again (errgrpc.ToNative) would
		// make it unknown.
		return e.observeEnded(ctx, ctr)
	}
	if err != nil {
		return observation{}, fmt.Errorf("status of %s: %w", ctr.ID(), err)
	}
	switch st.Status {
	case client.Stopped:
		if err := e.reap(ctx, ctr); err != nil {
			return observation{}, err
		}
		return e.observeEnded(ctx, ctr)
	case client.Created:
		rs, err := e.readState(ctr.ID())
		return observation{State: container.StateCreated, Run: rs}, err
	default:
		rs, err := e.readState(ctr.ID())
		state := container.StateRunning
		if st.Status == client.Paused || st.Status == client.Pausing {
			state = container.StatePaused
		}
		return observation{State: state, Pid: int(task.Pid()), Run: rs}, err
	}
}

// observeEnded tells the state of container ctr, which has no task, from
// its run state.
func (e *Executor) observeEnded(ctx context.Context, ctr client.Container) (observation, error) {
	rs, err := e.readState(ctr.ID())
	if err != nil {
		return observation{}, err
	}
	switch {
	case rs.Exited:
		return observation{State: container.StateExited, Run: rs}, nil
	case rs.StartedAt.IsZero():
		// No start recorded: never started, or removed with its files
		// since the caller found it. Removal deletes the container before
		// the files; ask containerd, not the client's copy of its info.
		if _, err := ctr.Info(ctx); cerrdefs.IsNotFound(err) {
			return observation{}, errdefs.NotFound("No such container: %s", ctr.ID())
		} else if err != nil {
			return observation{}, fmt.Errorf("container %s: %w", ctr.ID(), err)
		}
		return observation{State: container.StateCreated, Run: rs}, nil
	default:
		rs.Exited, rs.ExitCode = true, lostExitCode
		return observation{State: container.StateExited, Run: rs}, nil
	}
}
