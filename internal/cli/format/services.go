package format

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// ServiceHeader is the header of `service ls`.
var ServiceHeader = []string{"ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"}

// ServiceRows renders `service ls` rows, ordered by name. The services should
// carry ServiceStatus (GET /services?status=true).
func ServiceRows(services []swarm.Service) [][]string {
	var rows [][]string
	for _, s := range byName(services, func(s swarm.Service) string { return s.Spec.Name }) {
		image := ""
		if s.Spec.TaskTemplate.ContainerSpec != nil {
			image = ImageWithoutDigest(s.Spec.TaskTemplate.ContainerSpec.Image)
		}
		rows = append(rows, []string{
			TruncateID(s.ID), s.Spec.Name, ServiceMode(s.Spec.Mode), Replicas(s), image, ServicePorts(s.Endpoint.Ports),
		})
	}
	return rows
}

// ServiceIDs lists the services' short IDs in `service ls` order, for -q.
func ServiceIDs(services []swarm.Service) []string {
	var ids []string
	for _, s := range byName(services, func(s swarm.Service) string { return s.Spec.Name }) {
		ids = append(ids, TruncateID(s.ID))
	}
	return ids
}

// ServiceMode names a service's mode as `service ls` shows it.
func ServiceMode(m swarm.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.Replicated != nil:
		return "replicated"
	case m.ReplicatedJob != nil:
		return "replicated job"
	case m.GlobalJob != nil:
		return "global job"
	}
	return ""
}

// Replicas is the REPLICAS cell: running/desired, with job completion or the
// per-node maximum when there is one.
func Replicas(s swarm.Service) string {
	var running, desired, completed uint64
	if s.ServiceStatus != nil {
		running, desired, completed = s.ServiceStatus.RunningTasks, s.ServiceStatus.DesiredTasks, s.ServiceStatus.CompletedTasks
	}
	m := s.Spec.Mode
	switch {
	case m.ReplicatedJob != nil:
		var total uint64
		if m.ReplicatedJob.TotalCompletions != nil {
			total = *m.ReplicatedJob.TotalCompletions
		}
		return fmt.Sprintf("%d/%d (%d/%d completed)", running, desired, completed, total)
	case m.GlobalJob != nil:
		// Desired counts only tasks yet to complete, so the total is both.
		return fmt.Sprintf("%d/%d (%d/%d completed)", running, desired, completed, desired+completed)
	case m.Replicated != nil && s.Spec.TaskTemplate.Placement != nil && s.Spec.TaskTemplate.Placement.MaxReplicas > 0:
		return fmt.Sprintf("%d/%d (max %d per node)", running, desired, s.Spec.TaskTemplate.Placement.MaxReplicas)
	}
	return fmt.Sprintf("%d/%d", running, desired)
}

type portRange struct {
	pStart, pEnd, tStart, tEnd uint32
	protocol                   network.IPProtocol
}

func (r portRange) String() string {
	span := func(a, b uint32) string {
		if b > a {
			return fmt.Sprintf("%d-%d", a, b)
		}
		return strconv.FormatUint(uint64(a), 10)
	}
	return fmt.Sprintf("*:%s->%s/%s", span(r.pStart, r.pEnd), span(r.tStart, r.tEnd), r.protocol)
}

// ServicePorts is the PORTS cell of `service ls`: the ingress-published ports,
// consecutive ones folded into ranges ("*:8080-8081->80-81/tcp").
func ServicePorts(ports []swarm.PortConfig) string {
	sorted := slices.Clone(ports)
	slices.SortFunc(sorted, func(a, b swarm.PortConfig) int {
		if a.Protocol != b.Protocol {
			return strings.Compare(string(a.Protocol), string(b.Protocol))
		}
		return int(a.PublishedPort) - int(b.PublishedPort)
	})
	var out []string
	var cur portRange
	for _, p := range sorted {
		if p.PublishMode != swarm.PortConfigPublishModeIngress {
			continue
		}
		isRange := cur.tEnd != cur.tStart
		// Unsigned differences: a port below the range's end wraps to a large
		// gap and so starts a new range.
		fresh := p.Protocol != cur.protocol ||
			p.PublishedPort-cur.pEnd > 1 ||
			p.TargetPort-cur.tEnd > 1 ||
			isRange && p.TargetPort <= cur.tEnd
		if fresh {
			if cur.pStart > 0 {
				out = append(out, cur.String())
			}
			cur = portRange{pStart: p.PublishedPort, pEnd: p.PublishedPort, tStart: p.TargetPort, tEnd: p.TargetPort, protocol: p.Protocol}
			continue
		}
		cur.pEnd, cur.tEnd = p.PublishedPort, p.TargetPort
	}
	if cur.pStart > 0 {
		out = append(out, cur.String())
	}
	return strings.Join(out, ", ")
}
