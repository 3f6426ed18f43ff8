package fakeexec

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTask(id string) *swarm.Task {
	return &swarm.Task{ID: id, Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}}}
}

// run prepares and starts the task's container or fails the test.
func run(t *testing.T, ctl executor.Controller) {
	t.Helper()
	if err := ctl.Prepare(t.Context()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := ctl.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

// waitAsync runs Wait in a goroutine and returns where its result lands.
func waitAsync(ctx context.Context, ctl executor.Controller) <-chan executor.ExitStatus {
	out := make(chan executor.ExitStatus, 1)
	go func() {
		st, err := ctl.Wait(ctx)
		if err != nil {
			st.Code = -1
		}
		out <- st
	}()
	return out
}

// untilWaiters waits (bounded) until n timers are pending on clock.
func untilWaiters(t *testing.T, clock *ManualClock, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clock.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d timers pending, want %d", clock.Waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestScripts(t *testing.T) {
	tests := []struct {
		name     string
		script   Script
		advance  time.Duration
		shutdown bool
		want     executor.ExitStatus
	}{
		{name: "exits by itself", script: Script{ExitAfter: 2 * time.Second, ExitCode: 3}, advance: 2 * time.Second, want: executor.ExitStatus{Code: 3, At: epoch.Add(2 * time.Second)}},
		{name: "completes", script: Script{ExitAfter: time.Second}, advance: time.Second, want: executor.ExitStatus{Code: 0, At: epoch.Add(time.Second)}},
		{name: "OOM killed", script: Script{ExitAfter: time.Second, ExitCode: 137, OOMKilled: true}, advance: time.Second, want: executor.ExitStatus{Code: 137, OOMKilled: true, At: epoch.Add(time.Second)}},
		{name: "stopped", script: Script{}, shutdown: true, want: executor.ExitStatus{Code: ExitSIGTERM, At: epoch}},
		{name: "killed after the grace period", script: Script{IgnoreStop: true}, advance: defaultStopGrace, shutdown: true, want: executor.ExitStatus{Code: ExitSIGKILL, At: epoch.Add(defaultStopGrace)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewManualClock(epoch)
			e := New(Config{Clock: clock, Script: func(*swarm.Task) Script { return tt.script }})
			ctl, err := e.Controller(newTask("t1"), nil)
			if err != nil {
				t.Fatal(err)
			}
			run(t, ctl)
			result := waitAsync(t.Context(), ctl)
			if tt.shutdown {
				shut := make(chan error, 1)
				go func() { shut <- ctl.Shutdown(t.Context()) }()
				if tt.advance > 0 {
					untilWaiters(t, clock, 1)
					clock.Advance(tt.advance)
				}
				if err := <-shut; err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			} else {
				untilWaiters(t, clock, 1)
				clock.Advance(tt.advance)
			}
			if got := <-result; got != tt.want {
				t.Errorf("Wait got %+v, want %+v", got, tt.want)
			}
			info, _ := e.Container("t1")
			if info.State != stateExited || info.ExitCode != tt.want.Code {
				t.Errorf("container got %+v, want exited with %d", info, tt.want.Code)
			}
		})
	}
}

func TestPrepareFails(t *testing.T) {
	e := New(Config{Script: func(*swarm.Task) Script { return Script{PrepareErr: NoSuchImage("nope:1")} }})
	ctl, _ := e.Controller(newTask("t1"), nil)
	err := ctl.Prepare(t.Context())
	if !errdefs.Is(err, errdefs.KindNotFound) || err.Error() != "No such image: nope:1" {
		t.Errorf("Prepare got %v, want not found %q", err, "No such image: nope:1")
	}
	if _, ok := e.Container("t1"); ok {
		t.Error("a failed Prepare left a container")
	}
}

func TestHangingStartEndsWithItsContext(t *testing.T) {
	e := New(Config{Script: func(*swarm.Task) Script { return Script{Hang: true} }})
	ctl, _ := e.Controller(newTask("t1"), nil)
	if err := ctl.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ctl.Start(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Start got %v, want context.Canceled", err)
	}
	if info, _ := e.Container("t1"); info.State != stateCreated {
		t.Errorf("got state %q, want %q", info.State, stateCreated)
	}
}

// A second controller over the same task (an agent that restarted) finds
// the container: Prepare and Start do nothing, and a process that died
// meanwhile is reported by Wait, not restarted.
func TestAdoption(t *testing.T) {
	clock := NewManualClock(epoch)
	e := New(Config{Clock: clock})
	first, _ := e.Controller(newTask("t1"), nil)
	run(t, first)
	before, _ := e.Container("t1")
	if err := e.Crash("t1", 2); err != nil {
		t.Fatal(err)
	}
	second, _ := e.Controller(newTask("t1"), nil)
	run(t, second)
	after, _ := e.Container("t1")
	if after.ID != before.ID || after.Starts != 1 {
		t.Errorf("after adoption got %+v, want container %s started once", after, before.ID)
	}
	st, err := second.Wait(t.Context())
	if err != nil || st.Code != 2 {
		t.Errorf("Wait got %+v, %v; want exit code 2", st, err)
	}
	cs, err := second.ContainerStatus(t.Context())
	if err != nil || cs.ContainerID != before.ID || cs.ExitCode != 2 || cs.PID != 0 {
		t.Errorf("ContainerStatus got %+v, %v; want %s exited with 2", cs, err, before.ID)
	}
}

func TestRemove(t *testing.T) {
	e := New(Config{})
	ctl, _ := e.Controller(newTask("t1"), nil)
	run(t, ctl)
	cs, err := ctl.ContainerStatus(t.Context())
	if err != nil || cs.PID == 0 {
		t.Fatalf("ContainerStatus of a running container got %+v, %v; want a PID", cs, err)
	}
	if err := ctl.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Wait(t.Context()); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("Wait after Remove got %v, want not found", err)
	}
	if err := ctl.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown after Remove got %v, want nil", err)
	}
	if err := ctl.Remove(t.Context()); err != nil {
		t.Errorf("second Remove got %v, want nil", err)
	}
}

func TestWaitBeforeStart(t *testing.T) {
	e := New(Config{})
	ctl, _ := e.Controller(newTask("t1"), nil)
	if err := ctl.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Wait(t.Context()); !errdefs.Is(err, errdefs.KindPrecondition) {
		t.Errorf("Wait before Start got %v, want a precondition error", err)
	}
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(epoch)
	now := c.After(0)
	late := c.After(2 * time.Second)
	soon := c.After(time.Second)
	if got := <-now; !got.Equal(epoch) {
		t.Errorf("After(0) got %v, want %v", got, epoch)
	}
	c.Advance(time.Second)
	select {
	case got := <-soon:
		if !got.Equal(epoch.Add(time.Second)) {
			t.Errorf("After(1s) fired at %v, want %v", got, epoch.Add(time.Second))
		}
	default:
		t.Error("After(1s) did not fire after advancing 1s")
	}
	select {
	case <-late:
		t.Error("After(2s) fired after advancing 1s")
	default:
	}
	if got := c.Waiters(); got != 1 {
		t.Errorf("got %d waiters, want 1", got)
	}
}
