// Package logline reads the lines of a service's log stream, as the daemon
// sends them with details=1, and writes them the way `docker service logs`
// does: "name.slot.taskid@node    | message".
package logline

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Context names the task a line came from.
type Context struct {
	NodeID, ServiceID, TaskID string
}

// Line is one log line split into its parts.
type Line struct {
	// Timestamp is present when the logs were asked for with timestamps.
	Timestamp string
	Context   Context
	// Details holds the attributes other than the task context.
	Details map[string]string
	Message []byte
}

const (
	keyNode    = "com.docker.swarm.node.id"
	keyService = "com.docker.swarm.service.id"
	keyTask    = "com.docker.swarm.task.id"
)

// Parse splits a log line: "[timestamp ]details message", details being
// comma-separated key=value pairs, URL-encoded, that must name the node,
// service and task.
func Parse(buf []byte, timestamps bool) (Line, error) {
	n := 2
	if timestamps {
		n = 3
	}
	parts := bytes.SplitN(buf, []byte(" "), n)
	if len(parts) != n {
		return Line{}, fmt.Errorf("invalid context in log message: %v", string(buf))
	}
	var l Line
	if timestamps {
		l.Timestamp, parts = string(parts[0]), parts[1:]
	}
	details, err := parseDetails(string(parts[0]))
	if err != nil {
		return Line{}, err
	}
	for key, field := range map[string]*string{keyNode: &l.Context.NodeID, keyService: &l.Context.ServiceID, keyTask: &l.Context.TaskID} {
		v, ok := details[key]
		if !ok {
			return Line{}, fmt.Errorf("missing %s in log details: %v", key, details)
		}
		*field = v
		delete(details, key)
	}
	l.Details, l.Message = details, parts[1]
	return l, nil
}

func parseDetails(s string) (map[string]string, error) {
	details := map[string]string{}
	if s == "" {
		return details, nil
	}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid log detail %q", pair)
		}
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("invalid log detail %q: %w", pair, err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("invalid log detail %q: %w", pair, err)
		}
		details[key] = val
	}
	return details, nil
}

// Task is what a line's prefix names.
type Task struct {
	ServiceName string
	Slot        int
	TaskID      string
	NodeName    string
}

// PrefixOptions shape the prefix.
type PrefixOptions struct {
	NoTaskIDs bool
	NoTrunc   bool
	// Padding is the width of the largest slot number, so that prefixes line up.
	Padding int
}

// Prefix is "service.slot.taskid@node", padded after the node so that slots
// of different widths line up.
func Prefix(t Task, o PrefixOptions) string {
	name := t.ServiceName + "." + strconv.Itoa(t.Slot)
	if !o.NoTaskIDs {
		id := t.TaskID
		if !o.NoTrunc && len(id) > 12 {
			id = id[:12]
		}
		name += "." + id
	}
	pad := o.Padding - len(strconv.Itoa(t.Slot))
	return name + "@" + t.NodeName + strings.Repeat(" ", max(pad, 0))
}

// Format writes a line as `service logs` shows it: timestamp, prefix, "    | ",
// the other details when asked for, then the message.
func Format(l Line, prefix string, details bool) []byte {
	var b bytes.Buffer
	if l.Timestamp != "" {
		b.WriteString(l.Timestamp + " ")
	}
	b.WriteString(prefix + "    | ")
	if details && len(l.Details) > 0 {
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(l.Details)) {
			pairs = append(pairs, k+"="+l.Details[k])
		}
		b.WriteString(strings.Join(pairs, ",") + " ")
	}
	b.Write(l.Message)
	return b.Bytes()
}
