package controlapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/store"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newAPI(t *testing.T) (*API, *store.Store) {
	t.Helper()
	s := consensustest.NewStore(t)
	return New(s, WithClock(func() time.Time { return testNow })), s
}

func put(t *testing.T, s *store.Store, objs ...any) {
	t.Helper()
	err := s.Update(t.Context(), func(tx *store.WriteTx) error {
		for _, o := range objs {
			var err error
			switch v := o.(type) {
			case *store.Node:
				err = tx.Put(v)
			case *store.Task:
				err = tx.Put(v)
			case *store.Service:
				err = tx.Put(v)
			case *store.Cluster:
				err = tx.Put(v)
			case *store.Network:
				err = tx.Put(v)
			default:
				t.Fatalf("put: %T is not a stored object", o)
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

// snapshot returns the whole store, to check that a refused request
// changed nothing.
func snapshot(t *testing.T, s *store.Store) string {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func node(id, hostname string, role swarm.NodeRole, state swarm.NodeState) *store.Node {
	n := &store.Node{Node: swarm.Node{
		ID:          id,
		Spec:        swarm.NodeSpec{Role: role, Availability: swarm.NodeAvailabilityActive},
		Description: swarm.NodeDescription{Hostname: hostname},
		Status:      swarm.NodeStatus{State: state},
	}}
	if role == swarm.NodeRoleManager {
		n.ManagerStatus = &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable}
	}
	return n
}

func task(id, serviceID, nodeID string, slot int, state, desired swarm.TaskState, specVersion uint64) *store.Task {
	return &store.Task{Task: swarm.Task{
		ID: id, ServiceID: serviceID, NodeID: nodeID, Slot: slot,
		Status:       swarm.TaskStatus{State: state},
		DesiredState: desired,
	}, SpecVersion: specVersion}
}

func mustCreate(t *testing.T, a *API, spec swarm.ServiceSpec) string {
	t.Helper()
	id, err := a.CreateService(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func stored(t *testing.T, s *store.Store, id string) *store.Service {
	t.Helper()
	var svc *store.Service
	s.View(func(tx store.ReadTx) { svc = store.Get[*store.Service](tx, id) })
	if svc == nil {
		t.Fatalf("service %s not in the store", id)
	}
	return svc
}

func wantErr(t *testing.T, err error, kind errdefs.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", msg)
	}
	if errdefs.KindOf(err) != kind || !strings.Contains(err.Error(), msg) {
		t.Fatalf("got %q (kind %v), want kind %v containing %q", err, errdefs.KindOf(err), kind, msg)
	}
}

func noFilters() filters.Args { return filters.Args{} }
