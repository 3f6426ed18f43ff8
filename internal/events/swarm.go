package events

import (
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// SwarmEvent is the swarm-scoped event of one change to a stored object,
// as dockerd derives it from SwarmKit's store watch: old is nil for a
// create, cur is nil for a removal, at is the time of the change. Only
// services, nodes, networks, secrets and configs have events (ok false
// for anything else). It is a pure function of its arguments, so every
// manager derives the same events from the same raft log.
func SwarmEvent(old, cur any, at time.Time) (events.Message, bool) {
	action := events.ActionUpdate
	switch {
	case old == nil && cur == nil:
		return events.Message{}, false
	case old == nil:
		action = events.ActionCreate
	case cur == nil:
		action, cur, old = events.ActionRemove, old, nil
	}
	var (
		typ   events.Type
		id    string
		attrs map[string]string
	)
	switch o := cur.(type) {
	case *store.Service:
		typ, id, attrs = events.ServiceEventType, o.ID, serviceAttributes(o, asType[*store.Service](old))
	case *store.Node:
		typ, id, attrs = events.NodeEventType, o.ID, nodeAttributes(o, asType[*store.Node](old))
	case *store.Network:
		typ, id, attrs = events.NetworkEventType, o.ID, map[string]string{"name": o.Spec.Name}
	case *store.Secret:
		typ, id, attrs = events.SecretEventType, o.ID, map[string]string{"name": o.Spec.Name}
	case *store.Config:
		typ, id, attrs = events.ConfigEventType, o.ID, map[string]string{"name": o.Spec.Name}
	default:
		return events.Message{}, false
	}
	at = at.UTC()
	return events.Message{
		Type:     typ,
		Action:   action,
		Actor:    events.Actor{ID: id, Attributes: attrs},
		Scope:    "swarm",
		Time:     at.Unix(),
		TimeNano: at.UnixNano(),
	}, true
}

func asType[T any](o any) T {
	t, _ := o.(T)
	return t
}

// serviceAttributes names the service and, on an update (old not nil),
// what changed of its image, replicas and update state.
func serviceAttributes(s, old *store.Service) map[string]string {
	attrs := map[string]string{"name": s.Spec.Name}
	if old == nil {
		return attrs
	}
	if img, oldImg := image(s), image(old); img != oldImg {
		attrs["image.old"], attrs["image.new"] = oldImg, img
	}
	if n, oldN := replicas(s), replicas(old); n != nil && oldN != nil && *n != *oldN {
		attrs["replicas.old"], attrs["replicas.new"] = strconv.FormatUint(*oldN, 10), strconv.FormatUint(*n, 10)
	}
	if u := s.UpdateStatus; u != nil {
		switch o := old.UpdateStatus; {
		case o == nil:
			attrs["updatestate.new"] = string(u.State)
		case o.State != u.State:
			attrs["updatestate.old"], attrs["updatestate.new"] = string(o.State), string(u.State)
		}
	}
	return attrs
}

func image(s *store.Service) string {
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		return cs.Image
	}
	return ""
}

// replicas is a replicated service's count, nil for other modes.
func replicas(s *store.Service) *uint64 {
	if r := s.Spec.Mode.Replicated; r != nil {
		if r.Replicas == nil {
			return new(uint64)
		}
		return r.Replicas
	}
	return nil
}

// nodeAttributes names the node and, on an update, what changed of its
// availability, role, state, and as a manager its leadership and
// reachability.
func nodeAttributes(n, old *store.Node) map[string]string {
	name := n.Spec.Name
	if name == "" && n.Description.Hostname != "" {
		name = n.Description.Hostname
	}
	attrs := map[string]string{"name": name}
	if old == nil {
		return attrs
	}
	changed := func(key, was, is string) {
		if was != is {
			attrs[key+".old"], attrs[key+".new"] = was, is
		}
	}
	changed("availability", string(old.Spec.Availability), string(n.Spec.Availability))
	changed("role", string(old.Spec.Role), string(n.Spec.Role))
	changed("state", string(old.Status.State), string(n.Status.State))
	if m, om := n.ManagerStatus, old.ManagerStatus; m != nil && om != nil {
		changed("leader", strconv.FormatBool(om.Leader), strconv.FormatBool(m.Leader))
		changed("reachability", string(om.Reachability), string(m.Reachability))
	}
	return attrs
}

// kinds are the stored objects that have events; objectKey keys them.
func objectKey(o any) (string, bool) {
	switch o := o.(type) {
	case *store.Service:
		return "service/" + o.ID, true
	case *store.Node:
		return "node/" + o.ID, true
	case *store.Network:
		return "network/" + o.ID, true
	case *store.Secret:
		return "secret/" + o.ID, true
	case *store.Config:
		return "config/" + o.ID, true
	}
	return "", false
}

// meta returns the meta of a stored object that has events.
func meta(o any) swarm.Meta {
	switch o := o.(type) {
	case *store.Service:
		return o.Meta
	case *store.Node:
		return o.Meta
	case *store.Network:
		return o.Meta
	case *store.Secret:
		return o.Meta
	case *store.Config:
		return o.Meta
	}
	return swarm.Meta{}
}
