package orchestrator

import (
	"cmp"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/restart"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// ServiceNameLabel is the task label naming its service, which the
// executor and `docker service ps` read.
const ServiceNameLabel = "com.docker.swarm.service.name"

// Nodes indexes nodes by ID.
type Nodes map[string]*store.Node

// IndexNodes indexes the nodes of a snapshot.
func IndexNodes(nodes []*store.Node) Nodes {
	m := make(Nodes, len(nodes))
	for _, n := range nodes {
		m[n.ID] = n
	}
	return m
}

// Lost reports whether t was on a node that is down or gone: whatever it
// was doing there, it is not running anymore as far as the cluster is
// concerned.
func (ns Nodes) Lost(t *store.Task) bool {
	if t.NodeID == "" {
		return false
	}
	n := ns[t.NodeID]
	return n == nil || n.Status.State == swarm.NodeStateDown
}

// Stopped reports whether t holds nothing anymore: it ended, never reached
// a node, or its node is lost.
func (ns Nodes) Stopped(t *store.Task) bool {
	return taskstate.Terminal(t.Status.State) || taskstate.Before(t.Status.State, swarm.TaskStateAssigned) || ns.Lost(t)
}

// StopCause says why t, a task that holds nothing anymore (Stopped),
// stopped, for the restart delay of its replacement: it reported shutdown
// (the cluster stopped it), it ended by itself, or its node was lost
// while it still ran.
func (ns Nodes) StopCause(t *store.Task) restart.Cause {
	switch {
	case t.Status.State == swarm.TaskStateShutdown:
		return restart.Stopped
	case !taskstate.Terminal(t.Status.State) && ns.Lost(t):
		return restart.NodeLost
	}
	return restart.Ended
}

// TaskSpec is the spec a new task of svc gets: the service's task template
// with the cluster's default log driver when the template names none.
func TaskSpec(svc *store.Service, cluster *store.Cluster) swarm.TaskSpec {
	spec := svc.Spec.TaskTemplate
	if spec.LogDriver == nil && cluster != nil && cluster.Spec.TaskDefaults.LogDriver != nil {
		spec.LogDriver = cluster.Spec.TaskDefaults.LogDriver
	}
	return spec
}

// UpToDate reports whether t runs what svc now asks for. A task made from
// an older SpecVersion is still up to date when its spec is the same (a
// scale or a rollback changes the version, not the task spec) and so is
// its endpoint, as SwarmKit judges it: published ports decide which
// networks a task is on and which ports its node publishes.
func UpToDate(t *store.Task, svc *store.Service, cluster *store.Cluster) bool {
	return t.SpecVersion == svc.SpecVersion || reflect.DeepEqual(t.Spec, TaskSpec(svc, cluster)) && sameEndpoint(t, svc)
}

// sameEndpoint reports whether t was allocated for the endpoint svc asks
// for now; a task not allocated yet will be, for the current one.
func sameEndpoint(t *store.Task, svc *store.Service) bool {
	return t.Endpoint == nil || swarmnet.SameEndpoint(t.Endpoint.Spec, swarmnet.EndpointSpec(svc.Spec.EndpointSpec))
}

// SpecCheck is UpToDate for many tasks of one service: it compares specs
// once per SpecVersion, since the tasks made from one version share their
// spec.
type SpecCheck struct {
	svc     *store.Service
	cluster *store.Cluster
	spec    swarm.TaskSpec
	equal   map[uint64]bool
}

// NewSpecCheck returns the check of svc's tasks.
func NewSpecCheck(svc *store.Service, cluster *store.Cluster) *SpecCheck {
	return &SpecCheck{svc: svc, cluster: cluster, spec: TaskSpec(svc, cluster), equal: map[uint64]bool{}}
}

// UpToDate reports whether t runs what the service now asks for.
func (c *SpecCheck) UpToDate(t *store.Task) bool {
	if t.SpecVersion == c.svc.SpecVersion {
		return true
	}
	eq, ok := c.equal[t.SpecVersion]
	if !ok {
		eq = reflect.DeepEqual(t.Spec, c.spec)
		c.equal[t.SpecVersion] = eq
	}
	return eq && sameEndpoint(t, c.svc)
}

// IsJob reports whether svc runs to completion.
func IsJob(svc *store.Service) bool {
	return svc.Spec.Mode.ReplicatedJob != nil || svc.Spec.Mode.GlobalJob != nil
}

// IsGlobal reports whether svc runs one task per node (global or global
// job): its slots are nodes.
func IsGlobal(svc *store.Service) bool {
	return svc.Spec.Mode.Global != nil || svc.Spec.Mode.GlobalJob != nil
}

// NewTask returns a new task of svc for a slot (replicated) or a node
// (global, slot 0), as the orchestrator creates them.
func NewTask(id string, svc *store.Service, cluster *store.Cluster, slot int, nodeID string, desired swarm.TaskState, now time.Time) *store.Task {
	labels := make(map[string]string, len(svc.Spec.Labels)+1)
	maps.Copy(labels, svc.Spec.Labels)
	labels[ServiceNameLabel] = svc.Spec.Name
	t := &store.Task{
		Task: swarm.Task{
			ID:           id,
			Annotations:  swarm.Annotations{Labels: labels},
			Spec:         TaskSpec(svc, cluster),
			ServiceID:    svc.ID,
			Slot:         slot,
			NodeID:       nodeID,
			DesiredState: desired,
			Status:       swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateNew, Message: "created"},
		},
		SpecVersion:  svc.SpecVersion,
		RegistryAuth: svc.RegistryAuth,
	}
	if IsJob(svc) {
		t.JobIteration = &swarm.Version{Index: svc.SpecVersion}
	}
	return t
}

// Slot is the tasks of one replicated slot, or of one node of a global
// service.
type Slot struct {
	Number int    // 1.. for replicated services; 0 for global ones
	NodeID string // the node of a global service's slot
	Tasks  []*store.Task
}

// Slots groups the tasks of svc into its slots, ordered by slot number or
// node ID; within a slot, tasks keep their order in tasks. The slots share
// one array: a caller that appends to a slot's Tasks gets a copy.
func Slots(svc *store.Service, tasks []*store.Task) []Slot {
	global := IsGlobal(svc)
	// A slot is keyed by number, or by node for a global service and for
	// a task without a number.
	key := func(t *store.Task) (int, string) {
		if global || t.Slot == 0 {
			return 0, t.NodeID
		}
		return t.Slot, ""
	}
	// Sorting one copy costs less than a map and an array per slot, on
	// every pass of every controller.
	sorted := slices.Clone(tasks)
	slices.SortStableFunc(sorted, func(a, b *store.Task) int {
		na, ida := key(a)
		nb, idb := key(b)
		return cmp.Or(cmp.Compare(na, nb), cmp.Compare(ida, idb))
	})
	out := make([]Slot, 0, len(sorted))
	for i := 0; i < len(sorted); {
		n, node := key(sorted[i])
		j := i + 1
		for j < len(sorted) {
			if m, other := key(sorted[j]); m != n || other != node {
				break
			}
			j++
		}
		out = append(out, Slot{Number: n, NodeID: node, Tasks: sorted[i:j:j]})
		i = j
	}
	return out
}

// Newest returns the most recently created of tasks, or nil.
func Newest(tasks []*store.Task) *store.Task {
	var newest *store.Task
	for _, t := range tasks {
		if newest == nil || t.CreatedAt.After(newest.CreatedAt) || (t.CreatedAt.Equal(newest.CreatedAt) && t.ID > newest.ID) {
			newest = t
		}
	}
	return newest
}

// withDesired returns a copy of t wanting state s.
func withDesired(t *store.Task, s swarm.TaskState) *store.Task {
	c := *t
	c.DesiredState = s
	return &c
}
