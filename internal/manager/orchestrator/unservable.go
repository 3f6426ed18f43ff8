package orchestrator

import (
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/store"
)

// A service the cluster cannot serve (controller.Snapshot.Unservable) is
// left as it is: no task of it is created, restarted or removed, so a
// manager that finds one in its store neither runs out of memory nor
// fails its passes. The orchestrator marks it where the docker CLI looks:
//
//   - `docker service inspect` shows its UpdateStatus, paused with the
//     reason;
//   - `docker service ps` shows one task that never runs (desired
//     shutdown, rejected, no node) whose error is the reason.
//
// The operator fixes the spec or removes the service; once it can be
// served again, the mark goes and the service is served as any other.

// MessageUnservable begins the UpdateStatus message and the mark's error
// of a service that cannot be served.
const MessageUnservable = "cannot be served: "

// MarkLabel labels the task that shows why its service is not served.
const MarkLabel = "com.shoal.unservable"

// IsMark reports whether t is the mark of an unservable service, which
// no controller counts as one of its tasks.
func IsMark(t *store.Task) bool {
	_, ok := t.Labels[MarkLabel]
	return ok
}

// maxMarkString bounds the strings a mark copies from its service (its
// name and image), which may be the very thing too large to serve.
const maxMarkString = 256

func bounded(s string) string {
	if len(s) <= maxMarkString {
		return s
	}
	return strings.ToValidUTF8(s[:maxMarkString], "")
}

// unservable marks svc, which cannot be served for reason, and leaves its
// tasks alone.
func (d *decider) unservable(svc *store.Service, tasks []*store.Task, reason error) {
	msg := MessageUnservable + reason.Error() + "; update the service within the limits, or remove it"
	if u := svc.UpdateStatus; u == nil || u.State != swarm.UpdateStatePaused || u.Message != msg {
		c := *svc
		c.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, StartedAt: &d.in.Now, Message: msg}
		d.res.Changes = append(d.res.Changes, controller.Change{Services: []*store.Service{&c}})
	}
	var mark *store.Task
	for _, t := range tasks {
		if !IsMark(t) || t.DesiredState == swarm.TaskStateRemove {
			continue
		}
		if mark != nil {
			d.put(withDesired(t, swarm.TaskStateRemove)) // one is enough
			continue
		}
		mark = t
	}
	switch {
	case mark == nil:
		d.put(d.newMark(svc, msg))
	case mark.Status.Err != msg:
		c := *mark
		c.Status.Err, c.Status.Timestamp = msg, d.in.Now
		d.put(&c)
	}
}

// newMark returns the task that shows in `docker service ps` why svc is
// not served. It carries nothing of the service's spec but its name and
// image, bounded, which the CLI prints.
func (d *decider) newMark(svc *store.Service, msg string) *store.Task {
	image := ""
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		image = bounded(cs.Image)
	}
	return &store.Task{
		Task: swarm.Task{
			ID:          d.in.NewID(),
			Annotations: swarm.Annotations{Labels: map[string]string{ServiceNameLabel: bounded(svc.Spec.Name), MarkLabel: "true"}},
			Spec:        swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
			ServiceID:   svc.ID,
			// No slot and no node: no controller takes it for one of
			// the service's slots, no node is sent it.
			DesiredState: swarm.TaskStateShutdown,
			Status:       swarm.TaskStatus{Timestamp: d.in.Now, State: swarm.TaskStateRejected, Message: "not served", Err: msg},
		},
		SpecVersion: svc.SpecVersion,
	}
}

// served removes the marks of svc, which can be served, and returns its
// other tasks.
func (d *decider) served(svc *store.Service, tasks []*store.Task) []*store.Task {
	if u := svc.UpdateStatus; u != nil && u.State == swarm.UpdateStatePaused && strings.HasPrefix(u.Message, MessageUnservable) {
		c := *svc
		c.UpdateStatus = nil
		d.res.Changes = append(d.res.Changes, controller.Change{Services: []*store.Service{&c}})
	}
	n := 0
	for _, t := range tasks {
		if IsMark(t) {
			n++
		}
	}
	if n == 0 {
		return tasks
	}
	out := make([]*store.Task, 0, len(tasks)-n)
	for _, t := range tasks {
		switch {
		case !IsMark(t):
			out = append(out, t)
		case t.DesiredState != swarm.TaskStateRemove:
			d.put(withDesired(t, swarm.TaskStateRemove))
		}
	}
	return out
}
