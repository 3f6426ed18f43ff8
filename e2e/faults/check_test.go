package faults

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
)

func TestLostWrites(t *testing.T) {
	h := history(
		call{0, 0, 10, create("a", 1), ok},
		call{1, 20, 30, update("a", 3, 10), ok},
		call{0, 0, 10, create("b", 5), ok},
		call{1, 5, 30, update("b", 7, 10), unknown},
		call{0, 0, 10, create("c", 9), ok},
		call{0, 20, 30, remove("c"), ok},
	)
	h[3].Return = 1 << 40 // unanswered: it may apply at any time
	tests := []struct {
		name  string
		final map[string]Output
		want  string
	}{
		{"every last write there", map[string]Output{"a": found(3, 20), "b": found(5, 20), "c": absent}, ""},
		{"the last acknowledged update lost", map[string]Output{"a": found(1, 10), "b": found(5, 20), "c": absent}, "a: value 3 acknowledged"},
		{"a remove undone", map[string]Output{"a": found(3, 20), "b": found(7, 20), "c": found(9, 10)}, "c: removed"},
		// b's last acknowledged write overlaps an unanswered one: either may be last.
		{"an unanswered write may win", map[string]Output{"a": found(3, 20), "b": found(7, 20), "c": absent}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(lostWrites(h, tt.final), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRefusedApplied(t *testing.T) {
	unavailable := Output{Outcome: Unknown, Status: 503, Message: "no leader"}
	h := history(
		call{0, 0, 10, create("a", 1), ok},
		call{0, 11, 20, update("a", 2, 10), stale},
		call{0, 21, 30, update("a", 3, 10), unavailable},
		call{1, 31, 40, read("a"), found(3, 15)},
		call{1, 41, 50, read("a"), found(2, 17)},
		call{1, 51, 60, read("a"), found(99, 17)},
	)
	anomalies, applied := refusedApplied(h)
	if applied != 1 {
		t.Errorf("writes answered 503 seen applied: got %d, want 1", applied)
	}
	got := strings.Join(anomalies, "\n")
	if len(anomalies) != 2 || !strings.Contains(got, "value 2") || !strings.Contains(got, "refused stale") || !strings.Contains(got, "value 99 at 0.000s via , which no client wrote") {
		t.Errorf("got %d anomalies:\n%s\nwant the read of refused value 2 and of unwritten value 99", len(anomalies), got)
	}
}

func TestStaleReads(t *testing.T) {
	h := history(
		call{0, 0, 10, create("a", 1), ok},
		call{0, 11, 20, update("a", 2, 10), ok},
		call{1, 15, 25, read("a"), found(1, 10)}, // concurrent with the update: not stale
		call{1, 30, 40, read("a"), found(1, 10)}, // after it: stale
		call{1, 41, 50, read("a"), found(2, 12)},
	)
	got := staleReads(h)
	if len(got) != 1 || !strings.HasPrefix(got[0], "a: read at 0.000s via  saw value 1, overwritten by update(a, 2, from v10)") {
		t.Fatalf("got %q, want the one read after the update", got)
	}
}

func TestConvergence(t *testing.T) {
	two := uint64(2)
	svc := swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}}}
	nodes := []swarm.Node{
		{ID: "n1", Status: swarm.NodeStatus{State: swarm.NodeStateReady}},
		{ID: "n2", Status: swarm.NodeStatus{State: swarm.NodeStateDown}},
	}
	task := func(id, node string, slot int, state swarm.TaskState) swarm.Task {
		return swarm.Task{ID: id, ServiceID: "s1", NodeID: node, Slot: slot, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state}}
	}
	ctr := func(service string, name string) container.Summary {
		return container.Summary{Names: []string{"/" + name}, Labels: map[string]string{"com.docker.swarm.service.id": service}}
	}
	tests := []struct {
		name       string
		p          Placement
		waiting    string
		duplicates string
	}{
		{"converged", Placement{
			Services: []swarm.Service{svc}, Nodes: nodes,
			Tasks:      []swarm.Task{task("t1", "n1", 1, swarm.TaskStateRunning), task("t2", "n1", 2, swarm.TaskStateRunning)},
			Containers: map[string][]container.Summary{"worker1": {ctr("s1", "web.1.t1"), ctr("s1", "web.2.t2")}},
		}, "", ""},
		{"a task still starting, one on a node that is down", Placement{
			Services: []swarm.Service{svc}, Nodes: nodes,
			Tasks:      []swarm.Task{task("t1", "n1", 1, swarm.TaskStateStarting), task("t2", "n2", 2, swarm.TaskStateRunning)},
			Containers: map[string][]container.Summary{"worker1": {ctr("s1", "web.1.t1"), ctr("s1", "web.2.t2")}},
		}, "web: 0 slots with a running task, 2 with a running container, want 2", ""},
		{"two containers for one slot", Placement{
			Services: []swarm.Service{svc}, Nodes: nodes,
			Tasks:      []swarm.Task{task("t1", "n1", 1, swarm.TaskStateRunning), task("t2", "n1", 2, swarm.TaskStateRunning)},
			Containers: map[string][]container.Summary{"worker1": {ctr("s1", "web.1.t1"), ctr("s1", "web.2.t2")}, "manager1": {ctr("s1", "web.2.t0")}},
		}, "web slot 2: 2 running containers (manager1:web.2.t0, worker1:web.2.t2)", ""},
		{"two tasks for one slot", Placement{
			Services: []swarm.Service{svc}, Nodes: nodes,
			Tasks:      []swarm.Task{task("t1", "n1", 1, swarm.TaskStateRunning), task("t2", "n1", 2, swarm.TaskStateRunning), task("t3", "n1", 2, swarm.TaskStateRunning)},
			Containers: map[string][]container.Summary{"worker1": {ctr("s1", "web.1.t1"), ctr("s1", "web.2.t2")}},
		}, "", "web slot 2: 2 running tasks"},
		{"a removed service's container left", Placement{
			Nodes:      nodes,
			Containers: map[string][]container.Summary{"worker1": {ctr("s0", "old.1.t9")}},
		}, "containers of removed service s0 still run: worker1:old.1.t9", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waiting, dups := convergence(tt.p)
			if waiting != tt.waiting || strings.Join(dups, "; ") != tt.duplicates {
				t.Fatalf("got waiting %q, duplicates %q; want %q, %q", waiting, dups, tt.waiting, tt.duplicates)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	h := history(
		call{0, 0, 10, create("a", 1), ok},
		call{0, 11, 20, read("a"), found(1, 10)},
		call{1, 0, 10, create("b", 3), ok},
		call{1, 21, 30, update("a", 5, 10), ok},
		call{0, 31, 40, update("a", 7, 10), ok},
		call{1, 41, 50, read("a"), found(7, 14)},
	)
	got := explain(h, false, 0)
	if len(got) != 1 || !strings.HasPrefix(got[0], "a: not linearizable from call 4 of 5 on") || !strings.HasSuffix(got[0], "update(a, 7, from v10) → ok\n") {
		t.Fatalf("got %q, want service a explained up to the second update from v10", got)
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		op   Op
		err  error
		want Outcome
	}{
		{OpCreate, nil, OK},
		{OpCreate, &apiError{Status: 409, Message: "name conflicts"}, Exists},
		{OpUpdate, &apiError{Status: 409, Message: "update out of sequence"}, Stale},
		{OpUpdate, &apiError{Status: 404}, NotFound},
		{OpRemove, &apiError{Status: 404}, NotFound},
		{OpUpdate, &apiError{Status: 400, Message: "renaming services is not supported"}, Refused},
		{OpCreate, &apiError{Status: 503, Message: "this manager is not the leader of the swarm; try again"}, Unknown},
		{OpCreate, &apiError{Status: 500}, Unknown},
		{OpRemove, context.DeadlineExceeded, Unknown},
	}
	for _, tt := range tests {
		if got := outcome(tt.op, tt.err); got.Outcome != tt.want {
			t.Errorf("%s with %v: got %s, want %s", tt.op, tt.err, got.Outcome, tt.want)
		}
	}
}

// TestShortTasks checks that a run that does not converge names, for each
// service short of its count and only for those, every task with its
// node and states.
func TestShortTasks(t *testing.T) {
	one := uint64(1)
	spec := func(name string) swarm.ServiceSpec {
		return swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name}, Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}}
	}
	p := Placement{
		Services: []swarm.Service{{ID: "s1", Spec: spec("web")}, {ID: "s2", Spec: spec("db")}},
		Nodes:    []swarm.Node{{ID: "n1", Description: swarm.NodeDescription{Hostname: "manager3"}, Status: swarm.NodeStatus{State: swarm.NodeStateReady}}},
		Tasks: []swarm.Task{
			{ID: "t1", ServiceID: "s1", NodeID: "n1", Slot: 1, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStatePreparing, Message: "preparing"}},
			{ID: "t2", ServiceID: "s2", NodeID: "n1", Slot: 1, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}},
			{ID: "t3", ServiceID: "s1", Slot: 1, DesiredState: swarm.TaskStateReady, Status: swarm.TaskStatus{State: swarm.TaskStatePending}},
		},
		Containers: map[string][]container.Summary{"manager3": {{Names: []string{"/db.1.t2"}, Labels: map[string]string{"com.docker.swarm.service.id": "s2"}}}},
	}
	got := strings.Join(shortTasks(p), "\n")
	for _, want := range []string{"web v0: 2 tasks", "slot 1 t1 on manager3(ready): desired running, preparing \"preparing\"", "slot 1 t3 on no node: desired ready, pending"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "db") || strings.Contains(got, "t2") {
		t.Errorf("a converged service listed:\n%s", got)
	}
}
