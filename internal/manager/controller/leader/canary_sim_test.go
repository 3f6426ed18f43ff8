package leader_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/moby/moby/api/types/swarm"

	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

// TestCanarySimulation deploys canary and blue/green updates of a service
// of 6 replicas on 4 nodes through every controller: while the canary
// waits, every old task keeps running and no more new tasks run than the
// canary asks; then promotion rolls the rest, a canary of an image that
// cannot start rolls back, and blue/green stops every old task in the
// same round.
func TestCanarySimulation(t *testing.T) {
	const replicas = 6
	tests := []struct {
		name       string
		canary     store.Canary
		image      string
		promote    bool // ask for promotion once the canary waits
		wantState  swarm.UpdateState
		wantCanary store.CanaryState
		wantImage  string // of every running task at the end
	}{
		{name: "canary then promote", canary: store.Canary{Count: 2}, image: "busybox:2", promote: true,
			wantState: swarm.UpdateStateCompleted, wantCanary: store.CanaryPromoted, wantImage: "busybox:2"},
		{name: "canary promoted after a healthy period", canary: store.Canary{Count: 1, PromoteAfter: 20 * time.Second}, image: "busybox:2",
			wantState: swarm.UpdateStateCompleted, wantCanary: store.CanaryPromoted, wantImage: "busybox:2"},
		{name: "failing canary rolls back", canary: store.Canary{Count: 2}, image: "busybox:bad",
			wantState: swarm.UpdateStateRollbackCompleted, wantCanary: store.CanaryRolledBack, wantImage: "busybox"},
		{name: "blue/green", canary: store.Canary{Count: replicas, BlueGreen: true}, image: "busybox:2", promote: true,
			wantState: swarm.UpdateStateCompleted, wantCanary: store.CanaryPromoted, wantImage: "busybox:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSim(t, 11)
				var objs []any
				for i := range 4 {
					objs = append(objs, ct.Node(fmt.Sprintf("node%d", i)))
				}
				objs = append(objs, ct.Service("svc", "web", replicas, func(sv *store.Service) {
					sv.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2, Monitor: 2 * time.Second}
					sv.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Delay: ptr(time.Second)}
				}))
				ct.Put(t, s.st, objs...)
				for range 10 {
					s.step()
				}
				if got := s.running(); got != replicas {
					t.Fatalf("before the update %d tasks run, want %d", got, replicas)
				}
				s.update("svc", func(spec *swarm.ServiceSpec) { spec.TaskTemplate.ContainerSpec.Image = tt.image })
				s.change("svc", func(sv *store.Service) {
					c := tt.canary
					c.SpecVersion, c.State, c.StartedAt = sv.SpecVersion, store.CanaryWaiting, time.Now()
					sv.Canary = &c
				})

				oldRunning := func() int { return s.runningAt("busybox") }
				step := 0
				for ; step < 15; step++ {
					s.step()
					s.checkInvariants(step)
					if c := s.service("svc").Canary; c.State != store.CanaryWaiting {
						break
					}
					if got := oldRunning(); got != replicas {
						t.Fatalf("step %d: %d old tasks run while the canary waits, want all %d\n%s", step, got, replicas, s.dump("svc"))
					}
					if got := s.runningAt(tt.image); got > tt.canary.Count {
						t.Fatalf("step %d: %d new tasks run while the canary waits, want at most %d\n%s", step, got, tt.canary.Count, s.dump("svc"))
					}
				}
				if tt.promote {
					if c := s.service("svc").Canary; c.State != store.CanaryWaiting || c.Running != tt.canary.Count {
						t.Fatalf("canary %+v before promotion, want it waiting with %d new tasks running", c, tt.canary.Count)
					}
					s.change("svc", func(sv *store.Service) { sv.Canary.PromoteRequested = true })
				}
				for ; step < 200; step++ {
					before := oldRunning()
					s.step()
					s.checkInvariants(step)
					if tt.canary.BlueGreen && s.service("svc").Canary.State == store.CanaryPromoted {
						if after := s.oldMeantToRun(); after != 0 && after != replicas {
							t.Fatalf("step %d: %d old tasks still meant to run (of %d running before the step), want blue/green to stop all at once\n%s", step, after, before, s.dump("svc"))
						}
					}
				}
				svc := s.service("svc")
				if svc.UpdateStatus == nil || svc.UpdateStatus.State != tt.wantState {
					t.Fatalf("got update status %+v, want %s\n%s", svc.UpdateStatus, tt.wantState, s.dump("svc"))
				}
				if svc.Canary.State != tt.wantCanary {
					t.Errorf("got canary %+v, want %s", svc.Canary, tt.wantCanary)
				}
				if got := s.runningAt(tt.wantImage); got != replicas || s.running() != replicas {
					t.Errorf("%d tasks run %s at the end (%d in all), want %d\n%s", got, tt.wantImage, s.running(), replicas, s.dump("svc"))
				}
			})
		})
	}
}

// runningAt counts the tasks of an image that run as wanted.
func (s *sim) runningAt(image string) int {
	n := 0
	for _, t := range s.snapshot().Tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning && t.Spec.ContainerSpec.Image == image {
			n++
		}
	}
	return n
}

// oldMeantToRun counts the tasks of the first spec meant to run.
func (s *sim) oldMeantToRun() int {
	n := 0
	for _, t := range s.snapshot().Tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Spec.ContainerSpec.Image == "busybox" {
			n++
		}
	}
	return n
}
