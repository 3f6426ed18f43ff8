package fakeapi

import (
	"slices"

	"github.com/moby/moby/api/types/swarm"
)

var taskSteps = []swarm.TaskState{
	swarm.TaskStateNew, swarm.TaskStatePending, swarm.TaskStateAssigned,
	swarm.TaskStatePreparing, swarm.TaskStateStarting, swarm.TaskStateRunning,
}

// Orchestrate is a crude orchestrator to use as BeforeTasks: on each call it
// gives every replicated service one task per slot at the service's current
// version on the first node, shuts down tasks of older versions, and moves
// every task one state along towards running.
func Orchestrate(s *Server) {
	node := ""
	if len(s.Nodes) > 0 {
		node = s.Nodes[0].ID
	}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		if at := slices.Index(taskSteps, t.Status.State); at >= 0 && at < len(taskSteps)-1 {
			t.Status.State = taskSteps[at+1]
			t.Status.Timestamp = s.Now
		}
	}
	for _, svc := range s.Services {
		if svc.Spec.Mode.Replicated == nil {
			continue
		}
		replicas := 1
		if r := svc.Spec.Mode.Replicated.Replicas; r != nil {
			replicas = int(*r)
		}
		have := map[int]bool{}
		for i := range s.Tasks {
			t := &s.Tasks[i]
			if t.ServiceID != svc.ID || t.DesiredState != swarm.TaskStateRunning {
				continue
			}
			if t.Version.Index != svc.Version.Index || t.Slot > replicas {
				t.DesiredState, t.Status.State = swarm.TaskStateShutdown, swarm.TaskStateShutdown
				continue
			}
			have[t.Slot] = true
		}
		for slot := 1; slot <= replicas; slot++ {
			if have[slot] {
				continue
			}
			spec := svc.Spec.TaskTemplate
			s.Tasks = append(s.Tasks, swarm.Task{
				ID:           s.NewID("task"),
				Meta:         swarm.Meta{Version: svc.Version, CreatedAt: s.Now},
				Spec:         spec,
				ServiceID:    svc.ID,
				Slot:         slot,
				NodeID:       node,
				DesiredState: swarm.TaskStateRunning,
				Status:       swarm.TaskStatus{State: swarm.TaskStateNew, Timestamp: s.Now},
			})
		}
	}
}
