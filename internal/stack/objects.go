package stack

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Labels of a secret or config that replaced another when its content
// changed: the name the files give it, and which version it is (the first,
// named as the files name it, is 1 and has no label).
const (
	LabelRotates    = "com.shoal.stack.rotates"
	LabelGeneration = "com.shoal.stack.generation"
)

// fileObject is a secret or a config as the deployer sees it.
type fileObject struct {
	ID, Name   string
	Version    swarm.Version
	Labels     map[string]string
	Templating *swarm.Driver
	Driver     *swarm.Driver
}

// fileSpec is the spec of a secret or a config.
type fileSpec struct {
	Name       string
	Labels     map[string]string
	Data       []byte
	Templating *swarm.Driver
	Driver     *swarm.Driver
}

// objectRef is the object a service reference resolves to.
type objectRef struct{ ID, Name string }

// objectAPI is the Engine API for one kind of file object.
type objectAPI interface {
	kind() string
	list(ctx context.Context) ([]fileObject, error)
	create(ctx context.Context, spec fileSpec) (string, error)
	update(ctx context.Context, o fileObject, spec fileSpec) error
	remove(ctx context.Context, id string) error
}

// refs resolves the names services use to the objects that hold them now.
type refs struct{ secrets, configs map[string]objectRef }

// ensureFileObjects creates the stack's secrets and configs, updates their
// labels, and rotates those whose content changed; it returns what every
// name the services use (the stack's and external ones) resolves to.
func (d *Deployer) ensureFileObjects(ctx context.Context, s *Stack, cur *state) (refs, error) {
	r := refs{secrets: map[string]objectRef{}, configs: map[string]objectRef{}}
	secrets := secretObjects{d.API}
	for _, spec := range s.Secrets {
		ref, err := d.ensure(ctx, secrets, cur.secrets, fileSpec{Name: spec.Name, Labels: spec.Labels, Data: spec.Data, Templating: spec.Templating, Driver: spec.Driver})
		if err != nil {
			return r, err
		}
		r.secrets[spec.Name] = ref
	}
	configs := configObjects{d.API}
	for _, spec := range s.Configs {
		ref, err := d.ensure(ctx, configs, cur.configs, fileSpec{Name: spec.Name, Labels: spec.Labels, Data: spec.Data, Templating: spec.Templating})
		if err != nil {
			return r, err
		}
		r.configs[spec.Name] = ref
	}
	for _, name := range s.ExternalSecrets {
		o, _ := named(cur.secrets, name)
		r.secrets[name] = objectRef{ID: o.ID, Name: o.Name}
	}
	for _, name := range s.ExternalConfigs {
		o, _ := named(cur.configs, name)
		r.configs[name] = objectRef{ID: o.ID, Name: o.Name}
	}
	return r, nil
}

// ensure makes the current version of one object hold spec. The daemon
// alone knows a secret's data, so an update carrying the data tells: it is
// refused ("only updates to Labels are allowed") when the data changed, and
// then a new version is created beside the old one, which the services
// still use until they roll onto the new one.
func (d *Deployer) ensure(ctx context.Context, api objectAPI, objs []fileObject, spec fileSpec) (objectRef, error) {
	last, ok := latest(versions(objs, spec.Name))
	if !ok {
		fmt.Fprintf(d.Out, "Creating %s %s\n", api.kind(), spec.Name)
		id, err := api.create(ctx, spec)
		if err != nil {
			return objectRef{}, fmt.Errorf("failed to create %s %s: %w", api.kind(), spec.Name, err)
		}
		return objectRef{ID: id, Name: spec.Name}, nil
	}
	labels := maps.Clone(spec.Labels)
	for _, k := range []string{LabelRotates, LabelGeneration} {
		if v, ok := last.Labels[k]; ok {
			labels[k] = v
		}
	}
	if reflect.DeepEqual(last.Templating, spec.Templating) && reflect.DeepEqual(last.Driver, spec.Driver) {
		err := api.update(ctx, last, fileSpec{Name: last.Name, Labels: labels, Data: spec.Data})
		if err == nil {
			return objectRef{ID: last.ID, Name: last.Name}, nil
		}
		if !contentChanged(err) {
			return objectRef{}, fmt.Errorf("failed to update %s %s: %w", api.kind(), last.Name, err)
		}
	}
	gen := generation(last) + 1
	next := spec
	next.Name = fmt.Sprintf("%s-%d", spec.Name, gen)
	next.Labels = maps.Clone(spec.Labels)
	next.Labels[LabelRotates] = spec.Name
	next.Labels[LabelGeneration] = strconv.Itoa(gen)
	fmt.Fprintf(d.Out, "Rotating %s %s: its content changed; creating %s\n", api.kind(), last.Name, next.Name)
	id, err := api.create(ctx, next)
	if err != nil {
		return objectRef{}, fmt.Errorf("failed to create %s %s: %w", api.kind(), next.Name, err)
	}
	return objectRef{ID: id, Name: next.Name}, nil
}

// contentChanged says whether the daemon refused an update because the
// data (or the template driver) differs, which only a new object can carry.
func contentChanged(err error) bool {
	return cerrdefs.IsInvalidArgument(err) && strings.Contains(err.Error(), "only updates to Labels are allowed")
}

// versions are the objects holding what the files name base: base itself
// and those that replaced it.
func versions(objs []fileObject, base string) []fileObject {
	var out []fileObject
	for _, o := range objs {
		if o.Name == base || o.Labels[LabelRotates] == base {
			out = append(out, o)
		}
	}
	return out
}

func generation(o fileObject) int {
	if g, err := strconv.Atoi(o.Labels[LabelGeneration]); err == nil && g > 1 {
		return g
	}
	return 1
}

// latest is the version with the highest generation.
func latest(vs []fileObject) (fileObject, bool) {
	if len(vs) == 0 {
		return fileObject{}, false
	}
	return slices.MaxFunc(vs, func(a, b fileObject) int { return generation(a) - generation(b) }), true
}

// replaced is a version of a rotated object older than the latest.
type replaced struct {
	old fileObject
	by  string // the latest version's name
}

// superseded are the versions of rotated objects older than the latest
// and held by no live task, by name.
func superseded(objs []fileObject, live map[string]bool) []replaced {
	bases := map[string]bool{}
	for _, o := range objs {
		if b := o.Labels[LabelRotates]; b != "" {
			bases[b] = true
		}
	}
	var out []replaced
	for base := range bases {
		vs := versions(objs, base)
		last, _ := latest(vs)
		for _, o := range vs {
			if o.ID != last.ID && !live[o.ID] {
				out = append(out, replaced{old: o, by: last.Name})
			}
		}
	}
	slices.SortFunc(out, func(a, b replaced) int { return strings.Compare(a.old.Name, b.old.Name) })
	return out
}

func named(objs []fileObject, name string) (fileObject, bool) {
	for _, o := range objs {
		if o.Name == name {
			return o, true
		}
	}
	return fileObject{}, false
}

// collect removes the replaced versions of the stack's secrets and configs
// that no live task holds any more. One a service still names is refused
// by the daemon and kept for the next deploy or stack rm.
func (d *Deployer) collect(ctx context.Context, ns string) error {
	tasks, err := d.API.TaskList(ctx, client.TaskListOptions{Filters: stackFilter(ns)})
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, t := range tasks.Items {
		if t.DesiredState != swarm.TaskStateRunning && t.DesiredState != swarm.TaskStateReady || t.Spec.ContainerSpec == nil {
			continue
		}
		for _, s := range t.Spec.ContainerSpec.Secrets {
			live[s.SecretID] = true
		}
		for _, c := range t.Spec.ContainerSpec.Configs {
			live[c.ConfigID] = true
		}
	}
	for _, api := range []objectAPI{secretObjects{d.API}, configObjects{d.API}} {
		objs, err := api.list(ctx)
		if err != nil {
			return err
		}
		for _, r := range superseded(objs, live) {
			if err := api.remove(ctx, r.old.ID); err != nil {
				continue
			}
			fmt.Fprintf(d.Out, "Removing %s %s (replaced by %s)\n", api.kind(), r.old.Name, r.by)
		}
	}
	return nil
}

type secretObjects struct{ api *client.Client }

func (secretObjects) kind() string { return "secret" }

func (s secretObjects) list(ctx context.Context) ([]fileObject, error) {
	res, err := s.api.SecretList(ctx, client.SecretListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]fileObject, 0, len(res.Items))
	for _, o := range res.Items {
		out = append(out, fileObject{ID: o.ID, Name: o.Spec.Name, Version: o.Version, Labels: o.Spec.Labels, Templating: o.Spec.Templating, Driver: o.Spec.Driver})
	}
	return out, nil
}

func (s secretObjects) create(ctx context.Context, spec fileSpec) (string, error) {
	res, err := s.api.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: spec.Name, Labels: spec.Labels},
		Data:        spec.Data, Templating: spec.Templating, Driver: spec.Driver,
	}})
	return res.ID, err
}

func (s secretObjects) update(ctx context.Context, o fileObject, spec fileSpec) error {
	_, err := s.api.SecretUpdate(ctx, o.ID, client.SecretUpdateOptions{Version: o.Version, Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: spec.Name, Labels: spec.Labels}, Data: spec.Data,
	}})
	return err
}

func (s secretObjects) remove(ctx context.Context, id string) error {
	_, err := s.api.SecretRemove(ctx, id, client.SecretRemoveOptions{})
	return err
}

type configObjects struct{ api *client.Client }

func (configObjects) kind() string { return "config" }

func (c configObjects) list(ctx context.Context) ([]fileObject, error) {
	res, err := c.api.ConfigList(ctx, client.ConfigListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]fileObject, 0, len(res.Items))
	for _, o := range res.Items {
		out = append(out, fileObject{ID: o.ID, Name: o.Spec.Name, Version: o.Version, Labels: o.Spec.Labels, Templating: o.Spec.Templating})
	}
	return out, nil
}

func (c configObjects) create(ctx context.Context, spec fileSpec) (string, error) {
	res, err := c.api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: swarm.ConfigSpec{
		Annotations: swarm.Annotations{Name: spec.Name, Labels: spec.Labels},
		Data:        spec.Data, Templating: spec.Templating,
	}})
	return res.ID, err
}

func (c configObjects) update(ctx context.Context, o fileObject, spec fileSpec) error {
	_, err := c.api.ConfigUpdate(ctx, o.ID, client.ConfigUpdateOptions{Version: o.Version, Spec: swarm.ConfigSpec{
		Annotations: swarm.Annotations{Name: spec.Name, Labels: spec.Labels}, Data: spec.Data,
	}})
	return err
}

func (c configObjects) remove(ctx context.Context, id string) error {
	_, err := c.api.ConfigRemove(ctx, id, client.ConfigRemoveOptions{})
	return err
}
