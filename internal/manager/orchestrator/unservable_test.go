package orchestrator_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/store"
)

// marks summarises a result: "svc paused: cannot be served: …" for a
// service's status, "svc no status", "+mark rejected: …" for a new mark,
// "+new1 slot=1" for a new task, "t1→remove" for a changed one, and
// "m1 error: …" for a mark whose error changed.
func marks(r orchestrator.Result) []string {
	var out []string
	for _, c := range r.Changes {
		for _, s := range c.Services {
			if s.UpdateStatus == nil {
				out = append(out, s.ID+" no status")
				continue
			}
			out = append(out, fmt.Sprintf("%s %s: %s", s.ID, s.UpdateStatus.State, s.UpdateStatus.Message))
		}
		for _, t := range c.Tasks {
			switch {
			case t.Version.Index == 0 && orchestrator.IsMark(t):
				out = append(out, fmt.Sprintf("+mark %s %s: %s", t.DesiredState, t.Status.State, t.Status.Err))
			case t.Version.Index == 0:
				out = append(out, fmt.Sprintf("+%s slot=%d", t.ID, t.Slot))
			case orchestrator.IsMark(t) && t.DesiredState != swarm.TaskStateRemove:
				out = append(out, fmt.Sprintf("%s error: %s", t.ID, t.Status.Err))
			default:
				out = append(out, fmt.Sprintf("%s→%s", t.ID, t.DesiredState))
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestDecideUnservable(t *testing.T) {
	huge := ct.Service("svc", "web", 1e18, func(s *store.Service) { s.Version.Index = 7 })
	reason := limits.Service(huge.Spec, limits.Default())
	msg := orchestrator.MessageUnservable + reason.Error() + "; update the service within the limits, or remove it"
	marked := func(s *store.Service) *store.Service {
		c := *s
		c.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: msg}
		return &c
	}
	mark := func(id string, svc *store.Service, err string, mods ...func(*store.Task)) *store.Task {
		return at(id, svc, 0, "", time.Minute, append([]func(*store.Task){ct.Version(3), func(t *store.Task) {
			t.Labels[orchestrator.MarkLabel] = "true"
			t.DesiredState = swarm.TaskStateShutdown
			t.Status = swarm.TaskStatus{State: swarm.TaskStateRejected, Err: err}
		}}, mods...)...)
	}
	big := ct.Service("big", "big", 1, func(s *store.Service) {
		s.Spec.TaskTemplate.ContainerSpec.Env = []string{"BIG=" + strings.Repeat("x", limits.MaxObjectSize)}
	})
	bigReason := limits.Service(big.Spec, limits.Default())
	bigMsg := orchestrator.MessageUnservable + bigReason.Error() + "; update the service within the limits, or remove it"
	three := ct.Service("svc", "web", 3)
	pausedByUser := ct.Service("svc", "web", 1, func(s *store.Service) {
		s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure"}
	})
	tests := []struct {
		name     string
		services []*store.Service
		tasks    []*store.Task
		want     []string
	}{
		{
			name:     "1e18 replicas: marked, nothing created",
			services: []*store.Service{huge},
			want:     []string{"+mark shutdown rejected: " + msg, "svc paused: " + msg},
		},
		{
			name:     "its tasks are left alone, even ended ones",
			services: []*store.Service{huge},
			tasks:    []*store.Task{at("t1", huge, 1, "n1", time.Hour), at("t2", huge, 2, "n1", time.Hour, failed)},
			want:     []string{"+mark shutdown rejected: " + msg, "svc paused: " + msg},
		},
		{
			name:     "marked already: nothing to do",
			services: []*store.Service{marked(huge)},
			tasks:    []*store.Task{mark("m1", huge, msg)},
		},
		{
			name:     "a mark with another reason is told the new one",
			services: []*store.Service{marked(huge)},
			tasks:    []*store.Task{mark("m1", huge, "old reason")},
			want:     []string{"m1 error: " + msg},
		},
		{
			name:     "a spec over the size limit is marked with a mark of its own size",
			services: []*store.Service{big},
			want:     []string{"+mark shutdown rejected: " + bigMsg, "big paused: " + bigMsg},
		},
		{
			name:     "served again: the mark goes, the status is cleared, the tasks start",
			services: []*store.Service{marked(three)},
			tasks:    []*store.Task{mark("m1", three, msg)},
			want:     []string{"+new1 slot=1", "+new2 slot=2", "+new3 slot=3", "m1→remove", "svc no status"},
		},
		{
			name:     "a pause of the user's own is not cleared",
			services: []*store.Service{pausedByUser},
			tasks:    []*store.Task{at("t1", pausedByUser, 1, "n1", time.Hour)},
		},
		{
			name:  "the mark of a removed service goes with its tasks",
			tasks: []*store.Task{mark("m1", huge, msg), at("t1", huge, 1, "n1", time.Hour, ct.Version(5))},
			want:  []string{"m1→remove", "t1→remove"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := decide(controller.Snapshot{Nodes: []*store.Node{ct.Node("n1")}, Services: tt.services, Tasks: tt.tasks})
			if diff := cmp.Diff(tt.want, marks(r)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			for _, c := range r.Changes {
				for _, task := range c.Tasks {
					if n, _ := limits.EncodedSize(task); orchestrator.IsMark(task) && n > 4096 {
						t.Errorf("got a mark of %d bytes, want a small one whatever the service's size", n)
					}
				}
			}
		})
	}
}
