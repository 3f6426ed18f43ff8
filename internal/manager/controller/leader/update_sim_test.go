package leader_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/updater"
	"github.com/shoal-project/shoal/internal/store"
)

// TestUpdateSimulation rolls a converged service of 6 replicas on 4 nodes
// to a new image and checks the bounds of each order at every step:
// start-first never holds more than replicas + parallelism tasks,
// stop-first never runs fewer than replicas − parallelism; and, for an
// image that cannot start, what each failure action leaves behind.
func TestUpdateSimulation(t *testing.T) {
	const replicas = 6
	tests := []struct {
		name        string
		config      swarm.UpdateConfig
		image       string
		wantState   swarm.UpdateState
		wantImage   string // of every running task at the end
		wantRunning int
	}{
		{name: "stop-first one at a time", config: swarm.UpdateConfig{Parallelism: 1}, image: "busybox:2", wantState: "completed", wantImage: "busybox:2", wantRunning: replicas},
		{name: "stop-first two at a time", config: swarm.UpdateConfig{Parallelism: 2, Delay: 3 * time.Second}, image: "busybox:2", wantState: "completed", wantImage: "busybox:2", wantRunning: replicas},
		{name: "stop-first all at once", config: swarm.UpdateConfig{Parallelism: 0}, image: "busybox:2", wantState: "completed", wantImage: "busybox:2", wantRunning: replicas},
		{name: "start-first one at a time", config: swarm.UpdateConfig{Parallelism: 1, Order: "start-first"}, image: "busybox:2", wantState: "completed", wantImage: "busybox:2", wantRunning: replicas},
		{name: "start-first three at a time", config: swarm.UpdateConfig{Parallelism: 3, Order: "start-first"}, image: "busybox:2", wantState: "completed", wantImage: "busybox:2", wantRunning: replicas},
		{name: "failure pauses", config: swarm.UpdateConfig{Parallelism: 2, FailureAction: "pause"}, image: "busybox:bad", wantState: "paused"},
		{name: "failure pauses start-first with the old tasks running", config: swarm.UpdateConfig{Parallelism: 2, Order: "start-first", FailureAction: "pause"}, image: "busybox:bad", wantState: "paused", wantImage: "busybox", wantRunning: replicas},
		{name: "failure continues", config: swarm.UpdateConfig{Parallelism: 2, FailureAction: "continue"}, image: "busybox:bad", wantState: "completed"},
		{name: "failure rolls back", config: swarm.UpdateConfig{Parallelism: 2, FailureAction: "rollback"}, image: "busybox:bad", wantState: "rollback_completed", wantImage: "busybox", wantRunning: replicas},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSim(t, 7)
				var objs []any
				for i := range 4 {
					objs = append(objs, ct.Node(fmt.Sprintf("node%d", i)))
				}
				cfg := tt.config
				cfg.Monitor = 2 * time.Second
				objs = append(objs, ct.Service("svc", "web", replicas, func(sv *store.Service) {
					sv.Spec.UpdateConfig = &cfg
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
				parallelism := int(cfg.Parallelism)
				if parallelism == 0 {
					parallelism = replicas
				}
				for i := range 300 {
					s.step()
					s.checkInvariants(i)
					if cfg.Order == swarm.UpdateOrderStartFirst {
						if got := s.held(); got > replicas+parallelism {
							t.Fatalf("step %d: %d tasks held, want at most %d\n%s", i, got, replicas+parallelism, s.dump("svc"))
						}
					} else if got := s.running(); got < replicas-parallelism && tt.image != s.badImage {
						t.Fatalf("step %d: %d tasks run, want at least %d\n%s", i, got, replicas-parallelism, s.dump("svc"))
					}
				}
				svc := s.service("svc")
				if svc.UpdateStatus == nil || svc.UpdateStatus.State != tt.wantState {
					t.Fatalf("got update status %+v, want %s\n%s", svc.UpdateStatus, tt.wantState, s.dump("svc"))
				}
				if tt.wantState == swarm.UpdateStatePaused {
					if !strings.HasPrefix(svc.UpdateStatus.Message, updater.MessagePaused) {
						t.Errorf("got message %q, want it to start with %q", svc.UpdateStatus.Message, updater.MessagePaused)
					}
					if got := s.slotsAt("busybox:bad"); got > parallelism {
						t.Errorf("%d slots got the bad image before the pause, want at most %d", got, parallelism)
					}
				}
				if tt.wantImage != "" {
					for _, task := range s.snapshot().Tasks {
						if task.DesiredState == swarm.TaskStateRunning && task.Status.State == swarm.TaskStateRunning && task.Spec.ContainerSpec.Image != tt.wantImage {
							t.Errorf("task %s runs %s, want %s", task.ID, task.Spec.ContainerSpec.Image, tt.wantImage)
						}
					}
					if got := s.running(); got != tt.wantRunning {
						t.Errorf("%d tasks run at the end, want %d", got, tt.wantRunning)
					}
				}
			})
		})
	}
}

func (s *sim) service(id string) *store.Service {
	var svc *store.Service
	s.st.View(func(tx store.ReadTx) { svc = store.Get[*store.Service](tx, id) })
	return svc
}

// running counts the tasks that run as wanted.
func (s *sim) running() int {
	n := 0
	for _, t := range s.snapshot().Tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			n++
		}
	}
	return n
}

// held counts the tasks that hold a container or are meant to run.
func (s *sim) held() int {
	n := 0
	for _, t := range s.snapshot().Tasks {
		if controller.OnNode(t) || controller.Live(t) {
			n++
		}
	}
	return n
}

// slotsAt counts the slots that have had a task of an image.
func (s *sim) slotsAt(image string) int {
	slots := map[int]bool{}
	for _, t := range s.snapshot().Tasks {
		if t.Spec.ContainerSpec.Image == image {
			slots[t.Slot] = true
		}
	}
	return len(slots)
}
