package updater_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/updater"
	"github.com/shoal-project/shoal/internal/store"
)

// canary makes svc a canary of count new tasks waiting since started.
func canary(count int, mods ...func(*store.Canary)) func(*store.Service) {
	return func(s *store.Service) {
		c := &store.Canary{SpecVersion: s.SpecVersion, Count: count, State: store.CanaryWaiting, StartedAt: started}
		for _, m := range mods {
			m(c)
		}
		s.Canary = c
	}
}

// waitingMsg sets the status a canary with up new tasks running would
// have recorded, so that a pass changes it only when something changed.
func waitingMsg(up int, msg string) func(*store.Service) {
	return func(s *store.Service) {
		s.Canary.Running = up
		s.UpdateStatus.Message = msg
	}
}

const (
	waiting1 = "canary: 1 of 1 new tasks running beside the old ones; waiting for shoal service promote web (or shoal service rollback web to discard them)"
	waiting2 = "canary: 0 of 2 new tasks running beside the old ones; waiting for shoal service promote web (or shoal service rollback web to discard them)"
)

// canarySummary is summary with, for every service changed, its canary.
func canarySummary(r updater.Result) []string {
	out := summary(r)
	for _, c := range r.Changes {
		for _, s := range c.Services {
			if cn := s.Canary; cn != nil {
				out = append(out, fmt.Sprintf("canary %s running=%d: %s", cn.State, cn.Running, cn.Message))
			}
		}
	}
	return out
}

func TestDecideCanary(t *testing.T) {
	promote := func(c *store.Canary) { c.PromoteRequested = true }
	blueGreen := func(c *store.Canary) { c.BlueGreen = true }
	tests := []struct {
		name     string
		svc      *store.Service
		tasks    func(svc *store.Service) []*store.Task
		seen     map[string]time.Time
		want     []string
		wantNext time.Time
	}{
		{
			name:  "a canary starts by recording its status",
			svc:   service(canary(2), func(s *store.Service) { s.UpdateStatus = nil }),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"svc updating: " + waiting2, "canary waiting running=0: "},
		},
		{
			name:  "its new tasks start beside the old ones, whatever the parallelism and order",
			svc:   service(canary(2), config(swarm.UpdateConfig{Parallelism: 1}), waitingMsg(0, waiting2)),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"+new1 slot=1 running", "+new2 slot=2 running"},
		},
		{
			name: "the old tasks keep running beside the canary",
			svc:  service(canary(1)),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Minute)))
			},
			want: []string{"svc updating: " + waiting1, "canary waiting running=1: "},
		},
		{
			name: "and nothing changes while it waits",
			svc:  service(canary(1), waitingMsg(1, waiting1)),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Minute)))
			},
		},
		{
			name: "promotion asked lets the update go on",
			svc:  service(canary(1, promote), waitingMsg(1, waiting1)),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Second)))
			},
			want:     []string{"svc updating: update in progress", "canary promoted running=1: promoted on request"},
			wantNext: now.Add(4 * time.Second),
		},
		{
			name: "once promoted, the canary slots retire their old tasks and the rest rolls",
			svc: service(canary(1, func(c *store.Canary) { c.State = store.CanaryPromoted }), config(swarm.UpdateConfig{Parallelism: 2}), func(s *store.Service) {
				s.UpdateStatus.Message = updater.MessageUpdating
			}),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Minute)))
			},
			want: []string{"o1→shutdown", "o2→shutdown, +new1 slot=2 ready"},
		},
		{
			name: "automatic promotion waits for Monitor and PromoteAfter",
			svc: service(canary(1, func(c *store.Canary) { c.PromoteAfter = 30 * time.Second }), waitingMsg(1,
				"canary: 1 of 1 new tasks running beside the old ones; promoting once they have run healthy for 30s (shoal service promote web to promote now, shoal service rollback web to discard them)")),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(20*time.Second)))
			},
			wantNext: now.Add(15 * time.Second),
		},
		{
			name: "and then promotes",
			svc:  service(canary(1, func(c *store.Canary) { c.PromoteAfter = 30 * time.Second })),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(35*time.Second)))
			},
			want: []string{"svc updating: update in progress", "canary promoted running=1: promoted after its new tasks ran healthy for 30s"},
		},
		{
			name: "a failing canary rolls back, whatever the failure action",
			svc:  service(canary(1), waitingMsg(1, waiting1)),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, func(t *store.Task) {
					t.Status = swarm.TaskStatus{State: swarm.TaskStateFailed, Timestamp: now.Add(-time.Second), Err: "task: non-zero exit (137): dockerexec: unhealthy container"}
				}))
			},
			seen: map[string]time.Time{"f1": now.Add(-3 * time.Second)},
			want: []string{
				"f1→shutdown, svc rollback_completed: rollback completed",
				"canary rolled_back running=1: rolled back: new task f1 failed: task: non-zero exit (137): dockerexec: unhealthy container",
			},
		},
		{
			name: "a rollback asked while the canary waits ends it",
			svc: service(canary(1), func(s *store.Service) {
				s.SpecVersion = 3
				s.Spec, s.PreviousSpec = *s.PreviousSpec, &s.Spec
				s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
			}),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Minute)))
			},
			want: []string{"svc rollback_started: manually requested rollback (spec 3, image busybox:old)", "canary rolled_back running=0: rolled back: manually requested rollback"},
		},
		{
			name: "then the canary's new tasks stop",
			svc: service(canary(1, func(c *store.Canary) { c.State = store.CanaryRolledBack }), func(s *store.Service) {
				s.SpecVersion = 3
				s.Spec, s.PreviousSpec = *s.PreviousSpec, &s.Spec
				s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
			}),
			tasks: func(s *store.Service) []*store.Task {
				f1 := fresh("f1", s, 1, runningFor(time.Minute))
				f1.Spec.ContainerSpec = &swarm.ContainerSpec{Image: "busybox:new"}
				f1.SpecVersion = 2
				return append(olds(s, 1, 2, 3), f1)
			},
			// It completes as the other rollbacks do: in the pass that
			// stops the last old tasks.
			want: []string{"f1→shutdown", "svc rollback_completed: rollback completed", "canary rolled_back running=0: "},
		},
		{
			name: "another update supersedes a waiting canary",
			svc: service(canary(1), func(s *store.Service) {
				s.SpecVersion = 3
				s.UpdateStatus = nil
			}),
			tasks: func(s *store.Service) []*store.Task { return olds(s, 1, 2, 3) },
			want:  []string{"svc without update status", "canary superseded running=0: superseded by a newer spec"},
		},
		{
			name: "blue/green waits for every new task before it switches",
			svc:  service(canary(3, blueGreen, promote)),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Minute)), fresh("f2", s, 2, runningFor(time.Minute)),
					fresh("f3", s, 3, ct.State(swarm.TaskStateStarting, now)))
			},
			want:     []string{"svc updating: blue/green: 2 of 3 new tasks running beside the old ones; promotion asked, switching once they all run", "canary waiting running=2: "},
			wantNext: started.Add(time.Second + updater.DefaultMonitor + updater.DefaultStartTimeout),
		},
		{
			name: "and switches once they all run",
			svc:  service(canary(3, blueGreen, promote)),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Minute)), fresh("f2", s, 2, runningFor(time.Minute)),
					fresh("f3", s, 3, runningFor(time.Second)))
			},
			want:     []string{"svc updating: update in progress", "canary promoted running=3: promoted on request"},
			wantNext: now.Add(4 * time.Second),
		},
		{
			name: "every old task stops in the same pass, whatever the parallelism",
			svc: service(canary(3, blueGreen, func(c *store.Canary) { c.State = store.CanaryPromoted }), config(swarm.UpdateConfig{Parallelism: 1}), func(s *store.Service) {
				s.UpdateStatus.Message = updater.MessageUpdating
			}),
			tasks: func(s *store.Service) []*store.Task {
				return append(olds(s, 1, 2, 3), fresh("f1", s, 1, runningFor(time.Minute)), fresh("f2", s, 2, runningFor(time.Minute)),
					fresh("f3", s, 3, runningFor(time.Minute)))
			},
			want: []string{"o1→shutdown", "o2→shutdown", "o3→shutdown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			in := updater.Input{
				Snapshot: controller.Snapshot{Nodes: []*store.Node{ct.Node("n1")}, Services: []*store.Service{tt.svc}, Tasks: tt.tasks(tt.svc)},
				Now:      now,
				NewID:    func() string { n++; return fmt.Sprintf("new%d", n) },
				Seen:     tt.seen,
				Since:    started,
			}
			r := updater.Decide(in)
			if diff := cmp.Diff(tt.want, canarySummary(r)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if !r.Next.Equal(tt.wantNext) {
				t.Errorf("got next %v, want %v", r.Next, tt.wantNext)
			}
		})
	}
}
