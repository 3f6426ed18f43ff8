package stack

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Labels a stack puts on its objects, as the docker CLI does.
const (
	// LabelNamespace marks every object of a stack with the stack's name.
	LabelNamespace = "com.docker.stack.namespace"
	// LabelImage keeps the image a service's file names, before the daemon
	// pins it to a digest, so a redeploy can tell whether it changed.
	LabelImage = "com.docker.stack.image"
)

// defaultNetworkDriver is the driver of a stack network that names none.
const defaultNetworkDriver = "overlay"

// Stack is what a stack's files become: the objects to create, each list
// sorted by name, created in the order networks, secrets, configs, services.
type Stack struct {
	Namespace string
	Networks  []Network
	Secrets   []swarm.SecretSpec
	Configs   []swarm.ConfigSpec
	Services  []Service
	// External objects must exist before anything is created.
	ExternalNetworks []string `json:",omitempty"`
	ExternalSecrets  []string `json:",omitempty"`
	ExternalConfigs  []string `json:",omitempty"`
}

// Network is a network to create.
type Network struct {
	Name       string
	Driver     string
	Options    map[string]string `json:",omitempty"`
	Labels     map[string]string
	Internal   bool          `json:",omitempty"`
	Attachable bool          `json:",omitempty"`
	IPAM       *network.IPAM `json:",omitempty"`
}

// CreateOptions is the request that creates the network.
func (n Network) CreateOptions() client.NetworkCreateOptions {
	return client.NetworkCreateOptions{
		Driver: n.Driver, Options: n.Options, Labels: n.Labels,
		Internal: n.Internal, Attachable: n.Attachable, IPAM: n.IPAM,
	}
}

// Service is a service of the stack. Its secret and config references name
// their objects (SecretName, ConfigName); the deployer fills in the IDs.
type Service struct {
	// Name is the service's key in the file ("web" of STACK_web).
	Name      string
	Spec      swarm.ServiceSpec
	DependsOn []Dependency `json:",omitempty"`
}

// Dependency is a service another one waits for before it is created.
type Dependency struct {
	Service string
	// Condition is service_started, service_healthy or
	// service_completed_successfully.
	Condition string
}

// Convert turns a loaded project into the specs of the stack's objects,
// as the docker CLI's stack deploy does.
func Convert(p *Project) (*Stack, error) {
	s := &Stack{Namespace: p.Namespace}
	var errs []error
	s.Networks, s.ExternalNetworks, errs = p.networks()
	var err error
	if s.Secrets, s.ExternalSecrets, err = p.secrets(); err != nil {
		errs = append(errs, err)
	}
	s.Configs, s.ExternalConfigs = p.configs()
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc, err := p.service(p.Services[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Services = append(s.Services, svc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// stackLabels returns labels with the stack's namespace label added.
func (p *Project) stackLabels(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelNamespace] = p.Namespace
	return out
}

// fieldError is a conversion error below the key its converter was given.
type fieldError struct {
	path []string
	err  error
}

func (e *fieldError) Error() string { return e.err.Error() }

func errField(err error, path ...string) error { return &fieldError{path: path, err: err} }

// errAt places a conversion error at its key path in the files; each of
// joined errors goes to its own place.
func (p *Project) errAt(err error, path ...string) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range joined.Unwrap() {
			errs = append(errs, p.errAt(e, path...))
		}
		return errors.Join(errs...)
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		path, err = append(slices.Clone(path), fe.path...), fe.err
	}
	if p.ix == nil {
		return &Error{Path: strings.Join(path, "."), Err: err}
	}
	return p.ix.at(path, err)
}

// networks are the networks the services use (the docker CLI creates no
// other), and the external ones among them.
func (p *Project) networks() ([]Network, []string, []error) {
	used := map[string]bool{}
	for _, svc := range p.Services {
		for key := range svc.Networks {
			used[key] = true
		}
	}
	var (
		out      []Network
		external []string
		errs     []error
	)
	for _, key := range slices.Sorted(maps.Keys(used)) {
		nw := p.Networks[key]
		name := p.objectName(key, nw.Name)
		if nw.External {
			external = append(external, name)
			continue
		}
		n := Network{
			Name:       name,
			Labels:     p.stackLabels(nw.Labels),
			Driver:     nw.Driver,
			Options:    nw.DriverOpts,
			Internal:   nw.Internal,
			Attachable: nw.Attachable,
		}
		if n.Driver == "" {
			n.Driver = defaultNetworkDriver
		}
		if nw.Ipam.Driver != "" || len(nw.Ipam.Config) > 0 {
			n.IPAM = &network.IPAM{Driver: nw.Ipam.Driver}
			for i, pool := range nw.Ipam.Config {
				subnet, err := netip.ParsePrefix(pool.Subnet)
				if err != nil {
					errs = append(errs, p.errAt(fmt.Errorf("invalid subnet %q: want an address and a prefix length, e.g. 10.10.0.0/24", pool.Subnet),
						"networks", key, "ipam", "config", fmt.Sprint(i), "subnet"))
					continue
				}
				n.IPAM.Config = append(n.IPAM.Config, network.IPAMConfig{Subnet: subnet})
			}
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(external)
	return out, external, errs
}

func (p *Project) secrets() ([]swarm.SecretSpec, []string, error) {
	var (
		out      []swarm.SecretSpec
		external []string
	)
	for _, key := range slices.Sorted(maps.Keys(p.Secrets)) {
		sec := p.Secrets[key]
		name := p.objectName(key, sec.Name)
		if sec.External {
			if p.usesSecret(key) {
				external = append(external, name)
			}
			continue
		}
		spec := swarm.SecretSpec{
			Annotations: swarm.Annotations{Name: name, Labels: p.stackLabels(sec.Labels)},
			Data:        []byte(sec.Content),
		}
		if sec.Driver != "" {
			spec.Data = []byte{}
			spec.Driver = &swarm.Driver{Name: sec.Driver, Options: sec.DriverOpts}
		}
		if sec.TemplateDriver != "" {
			spec.Templating = &swarm.Driver{Name: sec.TemplateDriver}
		}
		out = append(out, spec)
	}
	slices.SortFunc(out, func(a, b swarm.SecretSpec) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(external)
	return out, external, nil
}

func (p *Project) configs() ([]swarm.ConfigSpec, []string) {
	var (
		out      []swarm.ConfigSpec
		external []string
	)
	for _, key := range slices.Sorted(maps.Keys(p.Configs)) {
		cfg := p.Configs[key]
		name := p.objectName(key, cfg.Name)
		if cfg.External {
			if p.usesConfig(key) {
				external = append(external, name)
			}
			continue
		}
		spec := swarm.ConfigSpec{
			Annotations: swarm.Annotations{Name: name, Labels: p.stackLabels(cfg.Labels)},
			Data:        []byte(cfg.Content),
		}
		if cfg.TemplateDriver != "" {
			spec.Templating = &swarm.Driver{Name: cfg.TemplateDriver}
		}
		out = append(out, spec)
	}
	slices.SortFunc(out, func(a, b swarm.ConfigSpec) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(external)
	return out, external
}

// usesSecret and usesConfig say whether a service refers to the object:
// only the external objects in use must exist, as with the docker CLI.
func (p *Project) usesSecret(key string) bool {
	for _, svc := range p.Services {
		for _, r := range svc.Secrets {
			if r.Source == key {
				return true
			}
		}
	}
	return false
}

func (p *Project) usesConfig(key string) bool {
	for _, svc := range p.Services {
		for _, r := range svc.Configs {
			if r.Source == key {
				return true
			}
		}
	}
	return false
}

// dependencies lists what a service waits for, sorted by service.
func dependencies(d types.DependsOnConfig) []Dependency {
	var out []Dependency
	for _, name := range slices.Sorted(maps.Keys(d)) {
		cond := d[name].Condition
		if cond == "" {
			cond = types.ServiceConditionStarted
		}
		out = append(out, Dependency{Service: name, Condition: cond})
	}
	return out
}
