package format

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/swarm"
)

// TaskListing is what `service ps` and `node ps` show.
type TaskListing struct {
	Tasks []swarm.Task
	// ServiceNames maps service IDs to names; a missing one shows the ID.
	ServiceNames map[string]string
	// NodeNames maps node IDs to hostnames; a missing one shows the ID.
	NodeNames map[string]string
	NoTrunc   bool
	Now       time.Time
}

// TaskHeader is the header of the task table.
var TaskHeader = []string{"ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"}

const maxErrLength = 30

type namedTask struct {
	swarm.Task
	name string
}

// sortedTasks names each task as docker does (service.slot, or service.node for
// global services) and orders them by name, newest first within a slot, so
// that a slot's earlier tasks follow it.
func (l TaskListing) sortedTasks() []namedTask {
	out := make([]namedTask, 0, len(l.Tasks))
	for _, t := range l.Tasks {
		svc := lookup(l.ServiceNames, t.ServiceID)
		name := svc + "." + t.NodeID
		if t.Slot != 0 {
			name = svc + "." + strconv.Itoa(t.Slot)
		}
		out = append(out, namedTask{Task: t, name: name})
	}
	slices.SortStableFunc(out, func(a, b namedTask) int {
		if a.name != b.name {
			if NaturalLess(a.name, b.name) {
				return -1
			}
			return 1
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	return out
}

// TaskRows renders the task table's rows; earlier tasks of a slot are indented
// under it as ` \_ name`.
func TaskRows(l TaskListing) [][]string {
	var rows [][]string
	prev := ""
	for _, t := range l.sortedTasks() {
		name := t.name
		if name == prev {
			name = ` \_ ` + name
		}
		prev = t.name
		rows = append(rows, []string{
			l.id(t.ID),
			name,
			l.image(t.Task),
			lookup(l.NodeNames, t.NodeID),
			Capitalize(string(t.DesiredState)),
			StateSince(string(t.Status.State), t.Status.Timestamp, l.Now),
			l.taskError(t.Status.Err),
			taskPorts(t.Status.PortStatus.Ports),
		})
	}
	return rows
}

// TaskIDs lists the tasks' IDs in table order, for -q.
func TaskIDs(l TaskListing) []string {
	var ids []string
	for _, t := range l.sortedTasks() {
		ids = append(ids, l.id(t.ID))
	}
	return ids
}

func (l TaskListing) id(id string) string {
	if l.NoTrunc {
		return id
	}
	return TruncateID(id)
}

func (l TaskListing) image(t swarm.Task) string {
	if t.Spec.ContainerSpec == nil {
		return ""
	}
	if l.NoTrunc {
		return t.Spec.ContainerSpec.Image
	}
	return ImageWithoutDigest(t.Spec.ContainerSpec.Image)
}

func (l TaskListing) taskError(msg string) string {
	if !l.NoTrunc {
		msg = Ellipsis(msg, maxErrLength)
	}
	if msg == "" {
		return ""
	}
	return `"` + msg + `"`
}

func taskPorts(ports []swarm.PortConfig) string {
	var out []string
	for _, p := range ports {
		out = append(out, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol))
	}
	return strings.Join(out, ",")
}

// ImageWithoutDigest drops the digest a tagged image reference was pinned to
// ("busybox:1.36@sha256:…" → "busybox:1.36"), as docker lists images.
func ImageWithoutDigest(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	nt, ok := ref.(reference.NamedTagged)
	if !ok {
		return image
	}
	tagged, err := reference.WithTag(reference.TrimNamed(nt), nt.Tag())
	if err != nil {
		return image
	}
	return reference.FamiliarString(tagged)
}

func lookup(names map[string]string, id string) string {
	if n, ok := names[id]; ok && n != "" {
		return n
	}
	return id
}

// byName orders services, nodes and images the way docker lists them.
func byName[T any](items []T, name func(T) string) []T {
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b T) int {
		na, nb := name(a), name(b)
		switch {
		case NaturalLess(na, nb):
			return -1
		case NaturalLess(nb, na):
			return 1
		}
		return cmp.Compare(na, nb)
	})
	return out
}
