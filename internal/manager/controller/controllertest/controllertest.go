// Package controllertest gives controller tests valid objects to adjust
// (like nomad/mock) and a store that commits at once without raft, so
// that loops can run inside testing/synctest bubbles.
package controllertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// Epoch is the time fixtures are made at.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewStore returns an empty store whose updates are applied as soon as
// they are proposed, in order, as a single-member raft log would.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	st := store.New()
	st.SetProposer(&sequencer{st: st})
	return st
}

type sequencer struct {
	mu    sync.Mutex
	st    *store.Store
	index uint64 // guarded by mu
}

func (q *sequencer) Propose(_ context.Context, data []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.index++
	return q.st.ApplyBatch(q.index, data)
}

// Put writes objects (*store.Cluster, *store.Node, *store.Service or
// *store.Task) in one update.
func Put(t testing.TB, st *store.Store, objs ...any) {
	t.Helper()
	err := st.Update(t.Context(), func(tx *store.WriteTx) error {
		for _, o := range objs {
			var err error
			switch o := o.(type) {
			case *store.Cluster:
				err = tx.Put(o)
			case *store.Node:
				err = tx.Put(o)
			case *store.Service:
				err = tx.Put(o)
			case *store.Task:
				err = tx.Put(o)
			default:
				t.Fatalf("controllertest.Put: %T is not a stored object", o)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Node returns a ready, active worker with 4 CPUs and 8 GiB on linux/amd64,
// named after its ID, changed by mods.
func Node(id string, mods ...func(*store.Node)) *store.Node {
	n := &store.Node{Node: swarm.Node{
		ID: id,
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{}},
			Role:         swarm.NodeRoleWorker,
			Availability: swarm.NodeAvailabilityActive,
		},
		Description: swarm.NodeDescription{
			Hostname:  id,
			Platform:  swarm.Platform{Architecture: "amd64", OS: "linux"},
			Resources: swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
		},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "127.0.0.1"},
	}}
	for _, m := range mods {
		m(n)
	}
	return n
}

// Service returns a replicated service of busybox at SpecVersion 1,
// changed by mods.
func Service(id, name string, replicas uint64, mods ...func(*store.Service)) *store.Service {
	s := &store.Service{
		Service: swarm.Service{
			ID: id,
			Spec: swarm.ServiceSpec{
				Annotations: swarm.Annotations{Name: name},
				TaskTemplate: swarm.TaskSpec{
					ContainerSpec: &swarm.ContainerSpec{Image: "busybox", Command: []string{"sleep", "1d"}},
				},
				Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
			},
		},
		SpecVersion: 1,
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// Global makes a service global.
func Global(s *store.Service) {
	s.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
}

// Task returns a task of svc in slot (a global task when slot is 0) made
// from its current spec, running on node (unassigned and new when node is
// empty), changed by mods.
func Task(id string, svc *store.Service, slot int, node string, mods ...func(*store.Task)) *store.Task {
	t := &store.Task{
		Task: swarm.Task{
			ID:           id,
			Meta:         swarm.Meta{CreatedAt: Epoch},
			Annotations:  swarm.Annotations{Labels: map[string]string{"com.docker.swarm.service.name": svc.Spec.Name}},
			Spec:         svc.Spec.TaskTemplate,
			ServiceID:    svc.ID,
			Slot:         slot,
			NodeID:       node,
			DesiredState: swarm.TaskStateRunning,
			Status:       swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: Epoch, Message: "started"},
		},
		SpecVersion: svc.SpecVersion,
	}
	if node == "" {
		t.Status = swarm.TaskStatus{State: swarm.TaskStateNew, Timestamp: Epoch, Message: "created"}
	}
	for _, m := range mods {
		m(t)
	}
	return t
}

// State sets a task's observed state at time at.
func State(s swarm.TaskState, at time.Time) func(*store.Task) {
	return func(t *store.Task) { t.Status.State = s; t.Status.Timestamp = at }
}

// Desired sets a task's desired state.
func Desired(s swarm.TaskState) func(*store.Task) {
	return func(t *store.Task) { t.DesiredState = s }
}

// Created sets when a task was created.
func Created(at time.Time) func(*store.Task) {
	return func(t *store.Task) { t.CreatedAt = at }
}

// Version sets an object's Version.Index, as if read from the store.
func Version(i uint64) func(*store.Task) {
	return func(t *store.Task) { t.Version.Index = i }
}
