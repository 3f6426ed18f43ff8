package containerdexec

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

func TestApplyProbe(t *testing.T) {
	hc := &container.HealthConfig{Retries: 2, StartPeriod: 10 * time.Second}
	started := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration, code int) container.HealthcheckResult {
		return container.HealthcheckResult{Start: started.Add(d), ExitCode: code}
	}
	type step struct {
		result     container.HealthcheckResult
		wantStatus container.HealthStatus
		wantStreak int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"pass makes healthy", []step{{at(time.Second, 0), container.Healthy, 0}}},
		{"failures in the start period do not count", []step{
			{at(time.Second, 1), container.Starting, 0},
			{at(2*time.Second, 1), container.Starting, 0},
		}},
		{"failures after the start period count to the retries", []step{
			{at(11*time.Second, 1), container.Starting, 1},
			{at(12*time.Second, 1), container.Unhealthy, 2},
		}},
		{"once healthy, failures count even in the start period", []step{
			{at(time.Second, 0), container.Healthy, 0},
			{at(2*time.Second, 1), container.Healthy, 1},
			{at(3*time.Second, 2), container.Unhealthy, 2},
			{at(4*time.Second, 0), container.Healthy, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &container.Health{Status: container.Starting}
			for i, s := range tt.steps {
				applyProbe(h, s.result, hc, started)
				if h.Status != s.wantStatus || h.FailingStreak != s.wantStreak {
					t.Fatalf("step %d: got %s streak %d, want %s streak %d", i, h.Status, h.FailingStreak, s.wantStatus, s.wantStreak)
				}
			}
		})
	}

	h := &container.Health{Status: container.Starting}
	for i := range 7 {
		applyProbe(h, at(time.Duration(i)*time.Second, 0), hc, started)
	}
	if len(h.Log) != maxHealthLog || !h.Log[0].Start.Equal(started.Add(2*time.Second)) {
		t.Errorf("got %d log entries from %v, want the last %d", len(h.Log), h.Log[0].Start, maxHealthLog)
	}
}

func TestNextProbe(t *testing.T) {
	hc := &container.HealthConfig{Interval: 30 * time.Second, StartInterval: 5 * time.Second, StartPeriod: time.Minute}
	started := time.Now()
	starting := &container.Health{Status: container.Starting}
	for _, tt := range []struct {
		name string
		h    *container.Health
		now  time.Time
		want time.Duration
	}{
		{"starting in the start period", starting, started.Add(time.Second), 5 * time.Second},
		{"starting after it", starting, started.Add(2 * time.Minute), 30 * time.Second},
		{"healthy", &container.Health{Status: container.Healthy}, started.Add(time.Second), 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextProbe(tt.h, hc, started, tt.now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMergeHealthcheck(t *testing.T) {
	img := &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Minute, Retries: 5}
	tests := []struct {
		name string
		spec *container.HealthConfig
		want *container.HealthConfig
	}{
		{"image's", nil, img},
		{"spec's times over the image's test", &container.HealthConfig{Interval: time.Second},
			&container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 5}},
		{"NONE disables", &container.HealthConfig{Test: []string{"NONE"}},
			&container.HealthConfig{Test: []string{"NONE"}, Interval: time.Minute, Retries: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, mergeHealthcheck(tt.spec, img)); diff != "" {
				t.Errorf("merged (-want +got):\n%s", diff)
			}
		})
	}
	if healthCheck(mergeHealthcheck(&container.HealthConfig{Test: []string{"NONE"}}, img)) != nil {
		t.Error("NONE: got a health check, want none")
	}
}

func TestProbeCommand(t *testing.T) {
	for _, tt := range []struct {
		test, shell []string
		want        []string
	}{
		{[]string{"CMD", "curl", "-f", "x"}, nil, []string{"curl", "-f", "x"}},
		{[]string{"CMD-SHELL", "curl -f x || exit 1"}, nil, []string{"/bin/sh", "-c", "curl -f x || exit 1"}},
		{[]string{"CMD-SHELL", "true"}, []string{"/bin/bash", "-ec"}, []string{"/bin/bash", "-ec", "true"}},
	} {
		got, err := probeCommand(tt.test, tt.shell)
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("probeCommand(%q, %q) = %q, %v; want %q", tt.test, tt.shell, got, err, tt.want)
		}
	}
	if _, err := probeCommand([]string{"BOGUS", "x"}, nil); err == nil {
		t.Error("probeCommand(BOGUS) = nil error, want one")
	}
}

func TestStatusText(t *testing.T) {
	now := time.Now()
	running := observation{State: container.StateRunning, Run: runState{StartedAt: now.Add(-5 * time.Second)}}
	exited := observation{State: container.StateExited, Run: runState{Exited: true, ExitCode: 3, FinishedAt: now.Add(-2 * time.Minute)}}
	for _, tt := range []struct {
		name   string
		obs    observation
		health *container.Health
		want   string
	}{
		{"running", running, nil, "Up 5 seconds"},
		{"starting", running, &container.Health{Status: container.Starting}, "Up 5 seconds (health: starting)"},
		{"healthy", running, &container.Health{Status: container.Healthy}, "Up 5 seconds (healthy)"},
		{"exited", exited, &container.Health{Status: container.Healthy}, "Exited (3) 2 minutes ago"},
		{"created", observation{State: container.StateCreated}, nil, "Created"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusText(tt.obs, tt.health, now); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// healthTask returns a task running args with the health check test,
// probed every 50 ms.
func healthTask(test []string, retries int, args ...string) *swarm.Task {
	task := newTask(args...)
	task.Spec.ContainerSpec.Healthcheck = &container.HealthConfig{
		Test: test, Interval: 50 * time.Millisecond, Timeout: 5 * time.Second, Retries: retries,
	}
	return task
}

func TestHealthy(t *testing.T) {
	e := newExecutor(t, "")
	task := healthTask([]string{"CMD-SHELL", "test -e /tmp/ready && echo fine"}, 100, "sh", "-c", "sleep 0.2; touch /tmp/ready; sleep 1000")
	ctl := start(t, e, task).(executor.HealthWaiter)
	if err := ctl.WaitHealthy(t.Context()); err != nil {
		t.Fatalf("got %v, want healthy", err)
	}
	id := ContainerID(task.ID)
	ins, err := e.Inspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	h := ins.State.Health
	if h == nil || h.Status != container.Healthy || len(h.Log) == 0 {
		t.Fatalf("got health %+v, want healthy with a log", h)
	}
	if last := h.Log[len(h.Log)-1]; last.ExitCode != 0 || last.Output != "fine\n" {
		t.Errorf("got last probe %+v, want exit 0 with its output", last)
	}
	list, err := e.List(t.Context(), false, map[string][]string{"health": {"healthy"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !strings.HasSuffix(list[0].Status, "(healthy)") || list[0].Health.Status != container.Healthy {
		t.Errorf("got %+v, want the container listed as healthy", list)
	}
}

func TestUnhealthy(t *testing.T) {
	e := newExecutor(t, "")
	task := healthTask([]string{"CMD", "false"}, 2, "sleep", "1000")
	ctl := start(t, e, task).(executor.HealthWaiter)
	if err := ctl.WaitHealthy(t.Context()); !errors.Is(err, executor.ErrUnhealthy) {
		t.Fatalf("got %v, want %v", err, executor.ErrUnhealthy)
	}
	if err := ctl.WaitUnhealthy(t.Context()); err != nil {
		t.Fatalf("WaitUnhealthy: got %v, want nil", err)
	}
	ins, err := e.Inspect(t.Context(), ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	if h := ins.State.Health; h.Status != container.Unhealthy || h.FailingStreak < 2 || h.Log[0].ExitCode != 1 {
		t.Errorf("got health %+v, want unhealthy after 2 failures", h)
	}
}

func TestHealthCheckTimeout(t *testing.T) {
	e := newExecutor(t, "")
	task := healthTask([]string{"CMD", "sleep", "60"}, 1, "sleep", "1000")
	task.Spec.ContainerSpec.Healthcheck.Timeout = 100 * time.Millisecond
	ctl := start(t, e, task).(executor.HealthWaiter)
	if err := ctl.WaitHealthy(t.Context()); !errors.Is(err, executor.ErrUnhealthy) {
		t.Fatalf("got %v, want %v", err, executor.ErrUnhealthy)
	}
	ins, err := e.Inspect(t.Context(), ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	if r := ins.State.Health.Log[0]; r.ExitCode != -1 || !strings.Contains(r.Output, "exceeded timeout") {
		t.Errorf("got probe %+v, want a timed-out one", r)
	}
}

func TestHealthWhenProcessExits(t *testing.T) {
	e := newExecutor(t, "")
	// The probe fails, but within the start period: only the exit ends it.
	task := healthTask([]string{"CMD", "false"}, 1, "sleep", "0.3")
	task.Spec.ContainerSpec.Healthcheck.StartPeriod = time.Hour
	ctl := start(t, e, task).(executor.HealthWaiter)
	if err := ctl.WaitHealthy(t.Context()); !errors.Is(err, executor.ErrExited) {
		t.Fatalf("got %v, want %v", err, executor.ErrExited)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := ctl.WaitUnhealthy(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitUnhealthy after the exit: got %v, want it to wait for ctx", err)
	}
}

func TestNoHealthCheck(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sleep", "1000")
	ctl := start(t, e, task).(executor.HealthWaiter)
	if err := ctl.WaitHealthy(t.Context()); err != nil {
		t.Errorf("WaitHealthy: got %v, want nil", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := ctl.WaitUnhealthy(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitUnhealthy: got %v, want it to wait for ctx", err)
	}
	ins, err := e.Inspect(t.Context(), ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	if ins.State.Health != nil {
		t.Errorf("got health %+v, want none", ins.State.Health)
	}
}

// TestImageHealthCheck runs an image with a HEALTHCHECK: the container
// gets it, with the spec's times over it, and a spec can disable it.
func TestImageHealthCheck(t *testing.T) {
	e := newExecutor(t, "")
	img := testimage.Image(t, testimage.WithHealthcheck(v1.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Hour}))
	f, err := os.Open(testimage.DockerSave(t, "busybox:health", img))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := env.images.Load(t.Context(), f); err != nil {
		t.Fatal(err)
	}

	task := newTask("sleep", "1000")
	task.Spec.ContainerSpec.Image = "busybox:health"
	task.Spec.ContainerSpec.Healthcheck = &container.HealthConfig{Interval: 50 * time.Millisecond}
	ctl := start(t, e, task).(executor.HealthWaiter)
	if err := ctl.WaitHealthy(t.Context()); err != nil {
		t.Fatalf("got %v, want healthy", err)
	}
	ins, err := e.Inspect(t.Context(), ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	if hc := ins.Config.Healthcheck; hc == nil || !cmp.Equal(hc.Test, []string{"CMD", "true"}) || hc.Interval != 50*time.Millisecond {
		t.Errorf("got health check %+v, want the image's test at the spec's interval", hc)
	}

	disabled := newTask("sleep", "1000")
	disabled.Spec.ContainerSpec.Image = "busybox:health"
	disabled.Spec.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	start(t, e, disabled)
	if ins, err := e.Inspect(t.Context(), ContainerID(disabled.ID)); err != nil || ins.State.Health != nil {
		t.Errorf("NONE: got health %+v, %v; want none", ins.State.Health, err)
	}
}

// TestHealthAcrossExecutorRestart checks that a new executor (a restarted
// daemon) shows the health recorded by the old one and goes on from it.
func TestHealthAcrossExecutorRestart(t *testing.T) {
	root := t.TempDir()
	e1 := newExecutor(t, root)
	task := healthTask([]string{"CMD", "true"}, 3, "sleep", "1000")
	task.Spec.ContainerSpec.Healthcheck.Interval = 50 * time.Millisecond
	ctl1 := start(t, e1, task).(executor.HealthWaiter)
	if err := ctl1.WaitHealthy(t.Context()); err != nil {
		t.Fatal(err)
	}
	e1.Close()

	e2 := newExecutor(t, root)
	ins, err := e2.Inspect(t.Context(), ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	if h := ins.State.Health; h == nil || h.Status != container.Healthy || len(h.Log) == 0 {
		t.Errorf("got health %+v after the restart, want the recorded healthy state", h)
	}
	ctl2, err := e2.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl2.(executor.HealthWaiter).WaitHealthy(t.Context()); err != nil {
		t.Errorf("WaitHealthy after the restart: got %v", err)
	}
}
