package template

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

// ExpandContainerSpec returns a copy of cs with its templated fields
// expanded in c: Hostname, the value of each Env entry (not its name),
// each mount's Source and Target, and a volume mount's labels and driver
// options, as SwarmKit expands them. cs is not changed. The error names
// the field whose template failed.
func ExpandContainerSpec(c Context, cs *swarm.ContainerSpec) (*swarm.ContainerSpec, error) {
	out := *cs
	var err error
	if out.Hostname, err = c.Expand("ContainerSpec.Hostname", cs.Hostname); err != nil {
		return nil, err
	}
	out.Env = slices.Clone(cs.Env)
	for i, e := range out.Env {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			continue
		}
		if v, err = c.Expand(fmt.Sprintf("ContainerSpec.Env[%s]", k), v); err != nil {
			return nil, err
		}
		out.Env[i] = k + "=" + v
	}
	out.Mounts = slices.Clone(cs.Mounts)
	for i := range out.Mounts {
		if err := expandMount(c, fmt.Sprintf("ContainerSpec.Mounts[%d]", i), &out.Mounts[i]); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// expandMount expands m in place; what it points to is copied first, so
// that the spec it came from keeps its templates.
func expandMount(c Context, field string, m *mount.Mount) error {
	var err error
	if m.Source, err = c.Expand(field+".Source", m.Source); err != nil {
		return err
	}
	if m.Target, err = c.Expand(field+".Target", m.Target); err != nil {
		return err
	}
	if m.VolumeOptions == nil {
		return nil
	}
	vo := *m.VolumeOptions
	m.VolumeOptions = &vo
	if vo.Labels, err = expandMap(c, field+".VolumeOptions.Labels", vo.Labels); err != nil {
		return err
	}
	if vo.DriverConfig != nil {
		dc := *vo.DriverConfig
		vo.DriverConfig = &dc
		if dc.Options, err = expandMap(c, field+".VolumeOptions.DriverConfig.Options", dc.Options); err != nil {
			return err
		}
	}
	return nil
}

// expandMap returns a copy of m with its values expanded.
func expandMap(c Context, field string, m map[string]string) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		x, err := c.Expand(fmt.Sprintf("%s[%s]", field, k), v)
		if err != nil {
			return nil, err
		}
		out[k] = x
	}
	return out, nil
}

// CheckService expands the container spec of the service spec with a
// sample task of it, as the control API checks a spec before it stores
// it: a template that does not parse, or fails on any task (a field or
// label that does not exist), is an error naming the field. It returns the
// expanded copy, whose values may be checked further as a task's would.
func CheckService(spec *swarm.ServiceSpec) (*swarm.ContainerSpec, error) {
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return nil, nil
	}
	return ExpandContainerSpec(sampleContext(spec.Name, spec.Labels), cs)
}
