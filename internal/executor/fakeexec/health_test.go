package fakeexec

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/executor"
)

func TestWaitHealthy(t *testing.T) {
	tests := []struct {
		name    string
		script  Script
		advance time.Duration // once WaitHealthy waits on the clock; 0: no wait
		want    error
	}{
		{name: "no health check", script: Script{}, want: nil},
		{name: "healthy at once", script: Script{Healthcheck: true}, want: nil},
		{name: "healthy after a while", script: Script{Healthcheck: true, HealthyAfter: 3 * time.Second}, advance: 3 * time.Second, want: nil},
		{name: "unhealthy before it passes", script: Script{Healthcheck: true, HealthyAfter: 5 * time.Second, UnhealthyAfter: 2 * time.Second}, advance: 2 * time.Second, want: executor.ErrUnhealthy},
		{name: "exits first", script: Script{Healthcheck: true, HealthyAfter: 5 * time.Second, ExitAfter: time.Second, ExitCode: 1}, advance: time.Second, want: executor.ErrExited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewManualClock(epoch)
			e := New(Config{Clock: clock, Script: func(*swarm.Task) Script { return tt.script }})
			ctl, _ := e.Controller(newTask("t1"), nil)
			run(t, ctl)
			hw := ctl.(executor.HealthWaiter)
			got := make(chan error, 1)
			go func() { got <- hw.WaitHealthy(t.Context()) }()
			if tt.advance > 0 {
				untilWaiters(t, clock, 1)
				clock.Advance(tt.advance)
			}
			if err := <-got; !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("WaitHealthy got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWaitUnhealthy(t *testing.T) {
	t.Run("scripted", func(t *testing.T) {
		clock := NewManualClock(epoch)
		e := New(Config{Clock: clock, Script: func(*swarm.Task) Script {
			return Script{Healthcheck: true, UnhealthyAfter: 10 * time.Second}
		}})
		ctl, _ := e.Controller(newTask("t1"), nil)
		run(t, ctl)
		got := make(chan error, 1)
		go func() { got <- ctl.(executor.HealthWaiter).WaitUnhealthy(t.Context()) }()
		untilWaiters(t, clock, 1)
		clock.Advance(10 * time.Second)
		if err := <-got; err != nil {
			t.Errorf("WaitUnhealthy got %v, want nil", err)
		}
	})
	t.Run("made unhealthy", func(t *testing.T) {
		e := New(Config{Script: func(*swarm.Task) Script { return Script{Healthcheck: true} }})
		ctl, _ := e.Controller(newTask("t1"), nil)
		run(t, ctl)
		got := make(chan error, 1)
		go func() { got <- ctl.(executor.HealthWaiter).WaitUnhealthy(t.Context()) }()
		if err := e.MakeUnhealthy("t1"); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Errorf("WaitUnhealthy got %v, want nil", err)
		}
	})
	// Without a health check, and once the process exited, nothing can
	// turn unhealthy: WaitUnhealthy waits for its context.
	for name, script := range map[string]Script{
		"no health check": {},
		"exited":          {Healthcheck: true, UnhealthyAfter: 2 * time.Millisecond, ExitAfter: time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			e := New(Config{Script: func(*swarm.Task) Script { return script }})
			ctl, _ := e.Controller(newTask("t1"), nil)
			run(t, ctl)
			if script.ExitAfter > 0 {
				if _, err := ctl.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if err := ctl.(executor.HealthWaiter).WaitUnhealthy(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WaitUnhealthy got %v, want it to wait for its context", err)
			}
		})
	}
}
