package containerdexec

import (
	"maps"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"

	"github.com/shoal-project/shoal/internal/metrics"
)

// EventLogger records what happens to containers, volumes and networks,
// as docker events shows it (events.Bus).
type EventLogger interface {
	Log(action events.Action, typ events.Type, actor events.Actor)
}

// containerEvent logs action on container id with dockerd's attributes:
// its labels, image and name, and extra. rec is the container's record,
// read when nil; without one (a container being made or gone) the event
// carries only extra.
func (e *Executor) containerEvent(id string, rec *record, action events.Action, extra map[string]string) {
	if e.cfg.Events == nil {
		return
	}
	if rec == nil {
		rec, _ = e.readRecord(id)
	}
	attrs := map[string]string{}
	if rec != nil {
		maps.Copy(attrs, rec.Config.Labels)
		if rec.Config.Image != "" {
			attrs["image"] = rec.Config.Image
		}
		attrs["name"] = rec.Name
	}
	maps.Copy(attrs, extra)
	e.cfg.Events.Log(action, events.ContainerEventType, events.Actor{ID: id, Attributes: attrs})
}

// volumeEvent logs action on a volume of the local driver.
func (e *Executor) volumeEvent(name string, action events.Action, extra map[string]string) {
	if e.cfg.Events == nil {
		return
	}
	attrs := map[string]string{"driver": "local"}
	maps.Copy(attrs, extra)
	e.cfg.Events.Log(action, events.VolumeEventType, events.Actor{ID: name, Attributes: attrs})
}

// mountEvents logs a volume mount for each volume of container id, as
// dockerd does when a container starts.
func (e *Executor) mountEvents(id string, rec *record) {
	for _, p := range rec.Mounts {
		if p.Type != mount.TypeVolume {
			continue
		}
		e.volumeEvent(p.Name, events.ActionMount, map[string]string{
			"container": id, "destination": p.Destination, "read/write": strconv.FormatBool(p.RW), "propagation": string(p.Propagation),
		})
	}
}

// networkEvents logs action (connect, disconnect) of container id on each
// network it has an interface on: the node's bridge, shown as Docker's
// "bridge" unless it is only a way out (onBridge), and its swarm
// networks.
func (e *Executor) networkEvents(id string, rec *record, action events.Action) {
	if e.cfg.Events == nil || rec == nil {
		return
	}
	log := func(netID, name, typ string) {
		e.cfg.Events.Log(action, events.NetworkEventType, events.Actor{ID: netID, Attributes: map[string]string{
			"container": id, "name": name, "type": typ,
		}})
	}
	if rec.Endpoint != nil && onBridge(rec) {
		log(e.cfg.BridgeID, "bridge", "bridge")
	}
	for _, ep := range rec.Networks {
		log(ep.NetworkID, ep.NetworkName, "overlay")
	}
}

// bridgeEvent logs action (connect, disconnect) of container id on the
// default bridge.
func (e *Executor) bridgeEvent(id string, action events.Action) {
	if e.cfg.Events == nil {
		return
	}
	e.cfg.Events.Log(action, events.NetworkEventType, events.Actor{ID: e.cfg.BridgeID, Attributes: map[string]string{
		"container": id, "name": "bridge", "type": "bridge",
	}})
}

// timeAction records how long a container action took (dockerd's
// engine_daemon_container_actions_seconds).
func timeAction(action string, start time.Time) {
	metrics.ContainerActions.WithLabelValues(action).Observe(time.Since(start).Seconds())
}

// dieAttributes are a die event's own attributes: the exit code and, as
// dockerd gives it, how long the process ran, in whole seconds.
func dieAttributes(rs runState) map[string]string {
	attrs := map[string]string{"exitCode": strconv.Itoa(rs.ExitCode)}
	if !rs.StartedAt.IsZero() && rs.FinishedAt.After(rs.StartedAt) {
		attrs["execDuration"] = strconv.Itoa(int(rs.FinishedAt.Sub(rs.StartedAt).Seconds()))
	}
	return attrs
}
