package restart_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/restart"
	"github.com/shoal-project/shoal/internal/store"
)

func ptr[T any](v T) *T { return &v }

func TestPolicyOfDefaults(t *testing.T) {
	tests := []struct {
		name string
		spec *swarm.RestartPolicy
		want restart.Policy
	}{
		{"no policy", nil, restart.Policy{Condition: "any", Delay: 5 * time.Second}},
		{"empty policy", &swarm.RestartPolicy{}, restart.Policy{Condition: "any", Delay: 5 * time.Second}},
		{
			"everything set",
			&swarm.RestartPolicy{Condition: "on-failure", Delay: ptr(time.Duration(0)), MaxAttempts: ptr(uint64(3)), Window: ptr(time.Minute)},
			restart.Policy{Condition: "on-failure", MaxAttempts: 3, Window: time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := restart.PolicyOf(swarm.TaskSpec{RestartPolicy: tt.spec})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PolicyOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	now := ct.Epoch.Add(time.Hour)
	svc := ct.Service("svc", "web", 1)
	at := func(id string, created time.Duration, state swarm.TaskState, mods ...func(*store.Task)) *store.Task {
		mods = append([]func(*store.Task){ct.Created(now.Add(created)), ct.State(state, now)}, mods...)
		return ct.Task(id, svc, 1, "n1", mods...)
	}
	failed := at("t3", -10*time.Second, swarm.TaskStateFailed)
	completed := at("t3", -10*time.Second, swarm.TaskStateComplete)
	history := []*store.Task{
		at("t1", -50*time.Minute, swarm.TaskStateFailed, ct.Desired(swarm.TaskStateShutdown)),
		at("t2", -5*time.Minute, swarm.TaskStateFailed, ct.Desired(swarm.TaskStateShutdown)),
	}
	tests := []struct {
		name   string
		policy restart.Policy
		ended  *store.Task
		slot   []*store.Task
		job    bool
		want   bool
	}{
		{"any restarts a failure", restart.Policy{Condition: "any"}, failed, nil, false, true},
		{"any restarts a completion", restart.Policy{Condition: "any"}, completed, nil, false, true},
		{"any does not restart a completed job task", restart.Policy{Condition: "any"}, completed, nil, true, false},
		{"on-failure restarts a failure", restart.Policy{Condition: "on-failure"}, failed, nil, false, true},
		{"on-failure does not restart a completion", restart.Policy{Condition: "on-failure"}, completed, nil, false, false},
		{"none never restarts", restart.Policy{Condition: "none"}, failed, nil, false, false},
		{"below max attempts", restart.Policy{Condition: "any", MaxAttempts: 3}, failed, append(history, failed), false, true},
		{"max attempts reached", restart.Policy{Condition: "any", MaxAttempts: 2}, failed, append(history, failed), false, false},
		{"window forgets old restarts", restart.Policy{Condition: "any", MaxAttempts: 2, Window: time.Minute}, failed, append(history, failed), false, true},
		{
			"a spec change starts the count again",
			restart.Policy{Condition: "any", MaxAttempts: 1},
			failed,
			[]*store.Task{at("t1", -time.Hour, swarm.TaskStateFailed, func(t *store.Task) { t.SpecVersion = 0 }), at("t2", -time.Minute, swarm.TaskStateFailed, func(t *store.Task) { t.SpecVersion = 0 }), failed},
			false,
			true,
		},
		{
			"removed tasks do not count",
			restart.Policy{Condition: "any", MaxAttempts: 1},
			failed,
			[]*store.Task{at("t1", -time.Hour, swarm.TaskStateFailed, ct.Desired(swarm.TaskStateRemove)), failed},
			false,
			true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Allows(tt.ended, tt.slot, tt.job, now); got != tt.want {
				t.Errorf("got Allows %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDelayAfter(t *testing.T) {
	p := restart.Policy{Condition: "any", Delay: 5 * time.Second}
	tests := []struct {
		name  string
		cause restart.Cause
		want  time.Duration
	}{
		{"a task that ended by itself waits: it may be a crash loop", restart.Ended, 5 * time.Second},
		{"a task the cluster stopped does not", restart.Stopped, 0},
		{"a task lost with its node does not: the node failed, not the task", restart.NodeLost, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.DelayAfter(tt.cause); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
