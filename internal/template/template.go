// Package template expands the Go templates Docker allows in a service:
// in its container spec (hostname, environment values, mount sources and
// targets, volume labels and driver options), from what the task and its
// node are; and in the data of a secret or config whose templating driver
// is "golang", which may also read the task's other secrets and configs
// and its environment. Expansion happens on the node, for each task; the
// control API only checks that templates parse and run.
package template

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"text/template"

	"github.com/moby/moby/api/types/swarm"
)

// Driver is the only templating driver: Go's text/template.
const Driver = "golang"

// serviceNameLabel is the task label the orchestrator sets to its
// service's name; the rest of a task's labels are its service's.
const serviceNameLabel = "com.docker.swarm.service.name"

// Context is what a template may read. Its fields are plain data: a type
// with methods here would let a template call them.
type Context struct {
	Service struct {
		ID     string
		Name   string
		Labels map[string]string
	}
	Node struct {
		ID       string
		Hostname string
		Platform struct {
			Architecture string
			OS           string
		}
	}
	Task struct {
		ID   string
		Name string
		// Slot is the task's slot, or its node's ID for a task of a
		// global service, which has none.
		Slot string
	}
}

// NewContext returns the context of task t on the node described by node,
// which may be nil.
func NewContext(t *swarm.Task, node *swarm.NodeDescription) Context {
	var c Context
	c.Service.ID = t.ServiceID
	c.Service.Name = t.Annotations.Labels[serviceNameLabel]
	c.Service.Labels = maps.Clone(t.Annotations.Labels)
	delete(c.Service.Labels, serviceNameLabel)
	if c.Service.Labels == nil {
		c.Service.Labels = map[string]string{}
	}
	c.Node.ID = t.NodeID
	if node != nil {
		c.Node.Hostname = node.Hostname
		c.Node.Platform.Architecture = node.Platform.Architecture
		c.Node.Platform.OS = node.Platform.OS
	}
	c.Task.ID = t.ID
	c.Task.Slot = fmt.Sprint(t.Slot)
	if t.Slot == 0 {
		c.Task.Slot = t.NodeID
	}
	c.Task.Name = t.Annotations.Name
	if c.Task.Name == "" {
		c.Task.Name = c.Service.Name + "." + c.Task.Slot + "." + t.ID
	}
	return c
}

// sampleContext is the context the control API checks a service's
// templates with: the service's own name and labels, made-up values for
// what only a task on a node has.
func sampleContext(name string, labels map[string]string) Context {
	var c Context
	c.Service.ID, c.Service.Name, c.Service.Labels = "serviceid", name, maps.Clone(labels)
	if c.Service.Labels == nil {
		c.Service.Labels = map[string]string{}
	}
	c.Node.ID, c.Node.Hostname = "nodeid", "nodehostname"
	c.Node.Platform.Architecture, c.Node.Platform.OS = "x86_64", "linux"
	c.Task.ID, c.Task.Slot = "taskid", "1"
	c.Task.Name = name + ".1.taskid"
	return c
}

// funcs are the functions every template has, as in SwarmKit: join SEP
// A B… joins its other arguments with SEP.
var funcs = template.FuncMap{
	"join": func(sep string, s ...string) string { return strings.Join(s, sep) },
}

// parse parses s as the template called name (the field it comes from,
// which Go's errors then quote), with extra functions besides funcs. A
// missing map key is an error, not "<no value>".
func parse(name, s string, extra template.FuncMap) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Funcs(funcs).Funcs(extra).Parse(s)
}

// expand runs the template s, named name, over data.
func expand(name, s string, data any, extra template.FuncMap) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	tmpl, err := parse(name, s, extra)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Expand expands s, the value of the field named field, in c.
func (c Context) Expand(field, s string) (string, error) {
	return expand(field, s, c, nil)
}
