package events

import (
	"slices"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

// Filter selects events as docker events --filter does. The zero Filter
// passes everything.
type Filter struct {
	args filters.Args
}

// filterNames are the filters GET /events takes.
var filterNames = []string{"config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret", "service", "type", "volume"}

// types are the values of the type filter.
var types = []events.Type{events.BuilderEventType, events.ConfigEventType, events.ContainerEventType, events.DaemonEventType,
	events.ImageEventType, events.NetworkEventType, events.NodeEventType, events.PluginEventType, events.SecretEventType,
	events.ServiceEventType, events.VolumeEventType}

// NewFilter checks args and returns their Filter. A filter name or a type
// or scope value that no event could match is refused, naming it, rather
// than silently matching nothing.
func NewFilter(args filters.Args) (Filter, error) {
	if err := args.Validate(filterNames...); err != nil {
		return Filter{}, err
	}
	for _, t := range args.Get("type") {
		if !slices.Contains(types, events.Type(t)) {
			return Filter{}, errdefs.Invalid("invalid filter 'type=%s': want one of builder, config, container, daemon, image, network, node, plugin, secret, service, volume", t)
		}
	}
	for _, s := range args.Get("scope") {
		if s != "local" && s != "swarm" {
			return Filter{}, errdefs.Invalid("invalid filter 'scope=%s': want local or swarm", s)
		}
	}
	return Filter{args: args}, nil
}

// Include reports whether m passes every filter given: values of one
// filter are alternatives, different filters must all match.
func (f Filter) Include(m events.Message) bool {
	a := f.args
	if a.Len() == 0 {
		return true
	}
	return f.matchAction(m.Action) &&
		a.Exact("type", string(m.Type)) &&
		a.Exact("scope", m.Scope) &&
		f.matchName(m, events.DaemonEventType) &&
		f.matchName(m, events.ContainerEventType) &&
		f.matchName(m, events.PluginEventType) &&
		f.matchName(m, events.VolumeEventType) &&
		f.matchName(m, events.NetworkEventType) &&
		f.matchName(m, events.NodeEventType) &&
		f.matchName(m, events.ServiceEventType) &&
		f.matchName(m, events.SecretEventType) &&
		f.matchName(m, events.ConfigEventType) &&
		f.matchImage(m) &&
		a.Labels("label", m.Actor.Attributes)
}

// fuzzyActions are the actions that carry a detail after a colon
// ("health_status: healthy", "exec_start: sh -c date"): a filter naming
// one of them matches them by prefix, as in dockerd.
var fuzzyActions = []string{"health_status", "exec_create", "exec_start"}

func (f Filter) matchAction(action events.Action) bool {
	for _, v := range f.args.Get("event") {
		if slices.Contains(fuzzyActions, v) {
			return f.args.Prefix("event", string(action))
		}
	}
	return f.args.Exact("event", string(action))
}

// matchName matches the filter named after typ (container=, service=, …)
// against the actor's ID or its name, by prefix, as dockerd does; it
// applies to events of every type, so container=web keeps only events of
// container web.
func (f Filter) matchName(m events.Message, typ events.Type) bool {
	name := string(typ)
	if !f.args.Contains(name) {
		return true
	}
	return f.args.Prefix(name, m.Actor.ID) || f.args.Prefix(name, m.Actor.Attributes["name"])
}

// matchImage matches the image filter against an image event's ID and
// name, or a container event's image, with and without its tag.
func (f Filter) matchImage(m events.Message) bool {
	if !f.args.Contains("image") {
		return true
	}
	attr := "image"
	if m.Type == events.ImageEventType {
		attr = "name"
	}
	name := m.Actor.Attributes[attr]
	for _, v := range []string{m.Actor.ID, name, withoutTag(m.Actor.ID), withoutTag(name)} {
		if v != "" && f.args.Exact("image", v) {
			return true
		}
	}
	return false
}

// withoutTag is an image reference's familiar name without tag or digest:
// busybox for docker.io/library/busybox:1.36.
func withoutTag(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarName(named)
}
