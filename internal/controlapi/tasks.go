package controlapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/manager/orchestrator"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

// serviceNameLabel is the task label the orchestrator sets to its
// service's name.
const serviceNameLabel = "com.docker.swarm.service.name"

// taskName is a task's name as Docker shows it: service.slot.id, or
// service.node.id for tasks bound to a node (global services).
func taskName(tx store.ReadTx, t *store.Task) string {
	if t.Annotations.Name != "" {
		return t.Annotations.Name
	}
	service := t.Annotations.Labels[serviceNameLabel]
	if s := store.Get[*store.Service](tx, t.ServiceID); s != nil {
		service = s.Spec.Name
	}
	slot := fmt.Sprint(t.Slot)
	if t.Slot == 0 {
		slot = t.NodeID
	}
	return service + "." + slot + "." + t.ID
}

// taskStates are the values of the desired-state filter.
var taskStates = []swarm.TaskState{
	swarm.TaskStateNew, swarm.TaskStateAllocated, swarm.TaskStatePending, swarm.TaskStateAssigned,
	swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting,
	swarm.TaskStateRunning, swarm.TaskStateComplete, swarm.TaskStateShutdown, swarm.TaskStateFailed,
	swarm.TaskStateRejected, swarm.TaskStateRemove, swarm.TaskStateOrphaned,
}

// ListTasks returns the tasks that pass f: id (prefix), name (prefix of
// service.slot.id), label, service and node (each an ID, name or unique
// prefix, resolved as dockerd does, so an unknown one is not found),
// desired-state, runtime, and _up-to-date (tasks made from their
// service's current spec; the CLI's progress display uses it).
func (a *API) ListTasks(ctx context.Context, f filters.Args) ([]swarm.Task, error) {
	if err := f.Validate("id", "name", "label", "service", "node", "desired-state", "_up-to-date", "runtime"); err != nil {
		return nil, err
	}
	desired := map[swarm.TaskState]bool{}
	for _, v := range f.Get("desired-state") {
		s := swarm.TaskState(strings.ToLower(v))
		if !slices.Contains(taskStates, s) {
			return nil, errdefs.Invalid("Invalid desired-state filter: '%s'", v)
		}
		desired[s] = true
	}
	var (
		out = []swarm.Task{}
		err error
	)
	a.store.View(func(tx store.ReadTx) {
		var services, nodes map[string]bool
		if services, err = resolveIDs(tx, f.Get("service"), serviceID); err != nil {
			return
		}
		if nodes, err = resolveIDs(tx, f.Get("node"), nodeID); err != nil {
			return
		}
		upToDate := f.Contains("_up-to-date")
		candidates := store.All[*store.Task]
		if services != nil {
			// The CLI polls one service's tasks every 200 ms: use the index.
			candidates = func(tx store.ReadTx) []*store.Task {
				var ts []*store.Task
				for id := range services {
					ts = append(ts, store.TasksByService(tx, id)...)
				}
				return ts
			}
		}
		for _, t := range candidates(tx) {
			switch {
			case services != nil && !services[t.ServiceID],
				nodes != nil && !nodes[t.NodeID],
				len(desired) > 0 && !desired[t.DesiredState],
				!f.Prefix("id", t.ID),
				f.Contains("name") && !f.Prefix("name", taskName(tx, t)),
				!f.Labels("label", t.Annotations.Labels),
				!f.Exact("runtime", string(t.Spec.Runtime)),
				// Plain containers' attachments show only when asked for
				// by runtime: docker node ps would look for their service.
				swarmnet.IsAttachment(t) && !f.Contains("runtime"),
				upToDate && !isUpToDate(tx, t):
				continue
			}
			out = append(out, t.Task)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// resolveIDs turns references into a set of IDs; nil when refs is empty.
func resolveIDs(tx store.ReadTx, refs []string, find func(store.ReadTx, string) (string, error)) (map[string]bool, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids := map[string]bool{}
	for _, r := range refs {
		id, err := find(tx, r)
		if err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, nil
}

func serviceID(tx store.ReadTx, ref string) (string, error) {
	s, err := findService(tx, ref)
	if err != nil {
		return "", err
	}
	return s.ID, nil
}

func nodeID(tx store.ReadTx, ref string) (string, error) {
	n, err := findNode(tx, ref)
	if err != nil {
		return "", err
	}
	return n.ID, nil
}

// isUpToDate is SwarmKit's "task is not dirty": the task runs the spec its
// service asks for now. A scale changes the service's version but not what
// its tasks run, so it must not make them out of date.
func isUpToDate(tx store.ReadTx, t *store.Task) bool {
	s := store.Get[*store.Service](tx, t.ServiceID)
	return s != nil && orchestrator.UpToDate(t, s, store.TheCluster(tx))
}

// GetTask returns the task ref names: its ID, its full name or a unique
// ID prefix.
func (a *API) GetTask(ctx context.Context, ref string) (swarm.Task, error) {
	var (
		t   *store.Task
		err error
	)
	a.store.View(func(tx store.ReadTx) { t, err = findTask(tx, ref) })
	if err != nil {
		return swarm.Task{}, err
	}
	return t.Task, nil
}
