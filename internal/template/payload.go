package template

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/moby/moby/api/types/swarm"
)

// Dependencies are the secrets and configs a node holds for its tasks
// (executor.Dependencies).
type Dependencies interface {
	Secret(id string) (*swarm.Secret, bool)
	Config(id string) (*swarm.Config, bool)
}

// payload is what the template of a secret's or config's data reads: the
// task's context, and through functions, the secrets and configs the task
// references (by the target they have in the task, as in Docker) and the
// task's environment.
type payload struct {
	Context
	cs   *swarm.ContainerSpec
	deps Dependencies
}

func (p *payload) funcs() template.FuncMap {
	return template.FuncMap{"secret": p.secret, "config": p.config, "env": p.env}
}

// secret returns the data of the task's secret whose file is target.
func (p *payload) secret(target string) (string, error) {
	for _, r := range p.cs.Secrets {
		if r == nil || r.File == nil || r.File.Name != target {
			continue
		}
		if p.deps != nil {
			if s, ok := p.deps.Secret(r.SecretID); ok {
				return string(s.Spec.Data), nil
			}
		}
		return "", fmt.Errorf("secret %s not found on this node", r.SecretName)
	}
	return "", fmt.Errorf("secret target %s not found: the service must use the secret", target)
}

// config returns the data of the task's config whose file is target.
func (p *payload) config(target string) (string, error) {
	for _, r := range p.cs.Configs {
		if r == nil || r.File == nil || r.File.Name != target {
			continue
		}
		if p.deps != nil {
			if c, ok := p.deps.Config(r.ConfigID); ok {
				return string(c.Spec.Data), nil
			}
		}
		return "", fmt.Errorf("config %s not found on this node", r.ConfigName)
	}
	return "", fmt.Errorf("config target %s not found: the service must use the config", target)
}

// env returns the value of the task's environment variable name; empty
// when it has none.
func (p *payload) env(name string) (string, error) {
	for _, e := range p.cs.Env {
		if k, v, ok := strings.Cut(e, "="); ok && k == name {
			return v, nil
		}
	}
	return "", nil
}

// Templated reports whether data of an object with templating t is a
// template, and refuses a driver other than golang.
func Templated(t *swarm.Driver) (bool, error) {
	switch {
	case t == nil:
		return false, nil
	case t.Name == Driver:
		return true, nil
	default:
		return false, fmt.Errorf("unknown template driver %q: only %q is supported", t.Name, Driver)
	}
}

// ExpandPayload renders data, the template of what (e.g. "config
// app.conf"), for the task whose context is c and whose container spec cs
// is (expanded): the functions secret, config and env read the task's
// secrets and configs, from deps, and its environment.
func ExpandPayload(what string, data []byte, c Context, cs *swarm.ContainerSpec, deps Dependencies) ([]byte, error) {
	p := &payload{Context: c, cs: cs, deps: deps}
	out, err := expand(what, string(data), p, p.funcs())
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// CheckPayload checks that data, the template of what, parses, as the
// control API does when the object is created. Whether it runs is known
// only on the node, for a task: the secrets and configs it reads must be
// the task's, and the labels it reads its service's.
func CheckPayload(what string, data []byte) error {
	_, err := parse(what, string(data), (&payload{}).funcs())
	return err
}
