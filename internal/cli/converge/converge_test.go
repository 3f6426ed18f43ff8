package converge

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/cli/internal/golden"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func replicated(n uint64) swarm.Service {
	return swarm.Service{ID: "svc", Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}}}
}

func withMonitor(s swarm.Service, d time.Duration) swarm.Service {
	s.Spec.UpdateConfig = &swarm.UpdateConfig{Monitor: d}
	return s
}

func tk(slot int, node string, state swarm.TaskState) swarm.Task {
	return swarm.Task{ID: "t" + strconv.Itoa(slot) + node, Slot: slot, NodeID: node, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state}}
}

func nodes(ids ...string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

// walk is the state a task reaches after some polls: new, then one step per
// poll up to running.
func walk(polls int) swarm.TaskState {
	steps := []swarm.TaskState{swarm.TaskStateNew, swarm.TaskStatePending, swarm.TaskStateAssigned, swarm.TaskStatePreparing, swarm.TaskStateStarting, swarm.TaskStateRunning}
	return steps[min(max(polls, 0), len(steps)-1)]
}

type scenario struct {
	name string
	// observe returns the poll's observation; polls are PollInterval apart.
	observe func(poll int) Observation
}

var scenarios = []scenario{
	{"replicated-create", func(p int) Observation {
		return Observation{
			Service:     withMonitor(replicated(3), time.Second),
			Tasks:       []swarm.Task{tk(1, "n1", walk(p)), tk(2, "n2", walk(p-1)), tk(3, "n1", walk(p-2))},
			ActiveNodes: nodes("n1", "n2"),
		}
	}},
	{"replicated-task-failure", func(p int) Observation {
		t2 := tk(2, "n1", walk(p))
		if p >= 7 && p < 9 {
			t2.Status.State, t2.DesiredState, t2.Status.Err = swarm.TaskStateFailed, swarm.TaskStateShutdown, "task: non-zero exit (1)"
		}
		tasks := []swarm.Task{tk(1, "n1", walk(p)), t2}
		if p >= 9 {
			tasks[1] = tk(2, "n1", walk(p-9))
		}
		return Observation{Service: withMonitor(replicated(2), time.Second), Tasks: tasks, ActiveNodes: nodes("n1")}
	}},
	{"replicated-on-down-node", func(p int) Observation {
		tasks := []swarm.Task{tk(1, "n1", walk(p)), tk(2, "gone", swarm.TaskStateRunning)}
		if p >= 3 {
			tasks = append(tasks, tk(2, "n1", walk(p-3)))
			tasks[1].DesiredState = swarm.TaskStateShutdown
		}
		return Observation{Service: withMonitor(replicated(2), 600*time.Millisecond), Tasks: tasks, ActiveNodes: nodes("n1")}
	}},
	{"global", func(p int) Observation {
		svc := swarm.Service{ID: "svc", Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}, UpdateConfig: &swarm.UpdateConfig{Monitor: 400 * time.Millisecond}}}
		var tasks []swarm.Task
		if p >= 1 {
			tasks = []swarm.Task{tk(0, "node2aaaaaaaaaaaaaaaaaaaa", walk(p-1)), tk(0, "node1aaaaaaaaaaaaaaaaaaaa", walk(p-2))}
		}
		return Observation{Service: svc, Tasks: tasks, ActiveNodes: nodes("node1aaaaaaaaaaaaaaaaaaaa", "node2aaaaaaaaaaaaaaaaaaaa")}
	}},
	{"update-paused", func(p int) Observation {
		svc := withMonitor(replicated(1), time.Second)
		svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
		t := tk(1, "n1", walk(p))
		if p >= 3 {
			t.Status.State, t.Status.Err = swarm.TaskStateRejected, "No such image: nosuch:latest"
			t.DesiredState = swarm.TaskStateShutdown
		}
		if p >= 4 {
			svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure or early termination of task abc"}
		}
		return Observation{Service: svc, Tasks: []swarm.Task{t}, ActiveNodes: nodes("n1")}
	}},
	{"rollback", func(p int) Observation {
		svc := withMonitor(replicated(2), 400*time.Millisecond)
		svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, Message: "manually requested rollback"}
		if p >= 4 {
			svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "rollback completed"}
		}
		return Observation{Service: svc, Tasks: []swarm.Task{tk(1, "n1", walk(p+2)), tk(2, "n1", walk(p))}, ActiveNodes: nodes("n1")}
	}},
	{"update-already-completed", func(p int) Observation {
		svc := replicated(1)
		svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}
		return Observation{Service: svc, Tasks: []swarm.Task{tk(1, "n1", swarm.TaskStateRunning)}, ActiveNodes: nodes("n1")}
	}},
	{"many-replicas", func(p int) Observation {
		var tasks []swarm.Task
		for i := 1; i <= 25; i++ {
			tasks = append(tasks, tk(i, "n1", walk(p-i/5)))
		}
		return Observation{Service: withMonitor(replicated(25), 200*time.Millisecond), Tasks: tasks, ActiveNodes: nodes("n1")}
	}},
	{"replicated-job", func(p int) Observation {
		total, concurrent := uint64(3), uint64(2)
		svc := swarm.Service{ID: "svc", Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{TotalCompletions: &total, MaxConcurrent: &concurrent}}},
			JobStatus: &swarm.JobStatus{JobIteration: swarm.Version{Index: 7}}}
		job := func(slot, startPoll int) swarm.Task {
			t := tk(slot, "n1", walk(p-startPoll))
			if p-startPoll >= 7 {
				t.Status.State = swarm.TaskStateComplete
			}
			t.JobIteration = &swarm.Version{Index: 7}
			return t
		}
		tasks := []swarm.Task{job(0, 0), job(1, 0)}
		if p >= 8 {
			tasks = append(tasks, job(2, 8))
		}
		stale := tk(0, "n1", swarm.TaskStateComplete)
		stale.JobIteration = &swarm.Version{Index: 6}
		return Observation{Service: svc, Tasks: append(tasks, stale), ActiveNodes: nodes("n1")}
	}},
	{"global-job", func(p int) Observation {
		svc := swarm.Service{ID: "svc", Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}},
			JobStatus: &swarm.JobStatus{JobIteration: swarm.Version{Index: 1}}}
		var tasks []swarm.Task
		if p >= 1 {
			for i, n := range []string{"n1", "n2"} {
				t := tk(0, n, walk(p-1-i))
				if p-1-i >= 6 {
					t.Status.State = swarm.TaskStateComplete
				}
				t.JobIteration = &swarm.Version{Index: 1}
				tasks = append(tasks, t)
			}
		}
		return Observation{Service: svc, Tasks: tasks, ActiveNodes: nodes("n1", "n2")}
	}},
}

// run drives a Tracker and a Display through a scenario, as Wait does but
// without the API, and returns what was written and how it ended.
func run(t *testing.T, sc scenario, tty bool) (string, error) {
	t.Helper()
	var out bytes.Buffer
	d := NewDisplay(&out, tty, 120)
	var tr Tracker
	for p := 0; p < 200; p++ {
		updates, done, err := tr.Step(sc.observe(p), start.Add(time.Duration(p)*PollInterval))
		if showErr := d.Show(updates); showErr != nil {
			t.Fatal(showErr)
		}
		if done {
			return out.String(), err
		}
	}
	t.Fatalf("scenario %s did not finish in 200 polls", sc.name)
	return "", nil
}

func TestScenariosGolden(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			plain, err := run(t, sc, false)
			var b strings.Builder
			b.WriteString(plain)
			if err != nil {
				fmt.Fprintf(&b, "error: %v\n", err)
			}
			golden.Check(t, "testdata/"+sc.name+".plain.golden", []byte(b.String()))

			raw, _ := run(t, sc, true)
			golden.Check(t, "testdata/"+sc.name+".screen.golden", []byte(strings.Join(screen(t, raw), "\n")+"\n"))
		})
	}
}

// screen replays what Display wrote to a terminal — text, newlines, "erase
// line" and "cursor up" — and returns the lines left on screen.
func screen(t *testing.T, raw string) []string {
	t.Helper()
	lines := []string{""}
	row := 0
	for i := 0; i < len(raw); {
		switch {
		case strings.HasPrefix(raw[i:], "\x1b[2K"):
			lines[row] = ""
			i += 4
		case raw[i] == '\x1b':
			end := strings.IndexByte(raw[i:], 'A')
			if end < 0 || raw[i+1] != '[' {
				t.Fatalf("unexpected escape sequence at %q", raw[i:])
			}
			n, err := strconv.Atoi(raw[i+2 : i+end])
			if err != nil {
				t.Fatal(err)
			}
			row -= n
			if row < 0 {
				t.Fatalf("cursor moved above the first line")
			}
			i += end + 1
		case raw[i] == '\n':
			row++
			if row == len(lines) {
				lines = append(lines, "")
			}
			i++
		default:
			lines[row] += string(raw[i])
			i++
		}
	}
	return lines
}

func TestRenderLine(t *testing.T) {
	tests := []struct {
		name  string
		u     Update
		width int
		want  string
	}{
		{"text", Update{ID: "overall progress", Text: "1 out of 3 tasks"}, 200, "overall progress: 1 out of 3 tasks"},
		{"running bar", Update{ID: "1/3", Text: "running  ", Current: 9, Total: 9}, 200, "1/3: running   [==================================================>]"},
		{"preparing bar", Update{ID: "1/3", Text: "preparing", Current: 6, Total: 9}, 200, "1/3: preparing [=================================>                 ]"},
		{"narrow terminal", Update{ID: "1/3", Text: "running  ", Current: 9, Total: 9}, 80, "1/3: running"},
		{"placeholder", Update{ID: "2/3", Text: " "}, 200, "2/3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RenderLine(tt.u, tt.width); got != tt.want {
				t.Errorf("RenderLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWaitingText(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want string
	}{
		{5 * time.Second, "Waiting 5 seconds to verify that tasks are stable..."},
		{4800 * time.Millisecond, "Waiting 5 seconds to verify that tasks are stable..."},
		{200 * time.Millisecond, "Waiting 1 second to verify that tasks are stable..."},
		{0, "Waiting 1 second to verify that tasks are stable..."},
	}
	for _, tt := range tests {
		if got := waitingText(tt.wait); got != tt.want {
			t.Errorf("waitingText(%s) = %q, want %q", tt.wait, got, tt.want)
		}
	}
}
