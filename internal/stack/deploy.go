package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Resolve-image choices, as docker stack deploy names them.
const (
	ResolveImageAlways  = "always"
	ResolveImageChanged = "changed"
	ResolveImageNever   = "never"
)

// Deployer keeps a stack's objects in the state its files declare, through
// the Engine API, printing what it does as docker stack deploy does.
type Deployer struct {
	API *client.Client
	Out io.Writer // what is created, updated, removed
	Err io.Writer // warnings
	// Converge follows a created or updated service until it converges
	// (--detach=false); nil when the deploy does not wait.
	Converge func(ctx context.Context, serviceID string) error
	// Poll is how often waits ask the daemon; 0 means half a second.
	Poll time.Duration
}

// DeployOptions are docker stack deploy's flags.
type DeployOptions struct {
	Prune        bool
	ResolveImage string
	// RegistryAuth encodes the credentials to send for an image
	// (--with-registry-auth); nil sends none.
	RegistryAuth func(image string) (string, error)
	Detach       bool
}

// state is what the daemon holds of a stack, and the objects its
// references may name.
type state struct {
	networks map[string]network.Summary // the stack's, by name
	services map[string]swarm.Service   // the stack's, by name
	secrets  []fileObject               // all of them: names are global
	configs  []fileObject
}

// Deploy creates what is missing, updates what changed and, with Prune,
// removes the services the files no longer have. Every external object is
// checked before anything is created, so a missing one leaves nothing
// behind.
func (d *Deployer) Deploy(ctx context.Context, s *Stack, o DeployOptions) error {
	switch o.ResolveImage {
	case ResolveImageAlways, ResolveImageChanged, ResolveImageNever:
	default:
		return fmt.Errorf("invalid option %s for flag --resolve-image", o.ResolveImage)
	}
	if err := d.checkManager(ctx); err != nil {
		return err
	}
	cur, err := d.read(ctx, s.Namespace)
	if err != nil {
		return err
	}
	if err := d.checkExternal(ctx, s, cur); err != nil {
		return err
	}
	if o.Prune {
		d.prune(ctx, s, cur)
	}
	if err := d.createNetworks(ctx, s, cur); err != nil {
		return err
	}
	refs, err := d.ensureFileObjects(ctx, s, cur)
	if err != nil {
		return err
	}
	changed, err := d.deployServices(ctx, s, cur, refs, o)
	if err != nil {
		return err
	}
	var errs []error
	if !o.Detach && d.Converge != nil {
		for _, svc := range changed {
			if err := d.Converge(ctx, svc.id); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", svc.name, err))
			}
		}
	}
	if err := d.collect(ctx, s.Namespace); err != nil {
		fmt.Fprintln(d.Err, "Could not remove replaced secrets and configs:", err)
	}
	return errors.Join(errs...)
}

// checkManager refuses early on a node that cannot manage the swarm, as
// networks must be created before services.
func (d *Deployer) checkManager(ctx context.Context) error {
	res, err := d.API.Info(ctx, client.InfoOptions{})
	if err != nil {
		return err
	}
	if !res.Info.Swarm.ControlAvailable {
		return errors.New(`this node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again`)
	}
	return nil
}

func stackFilter(ns string) client.Filters {
	return make(client.Filters).Add("label", LabelNamespace+"="+ns)
}

func (d *Deployer) read(ctx context.Context, ns string) (*state, error) {
	cur := &state{networks: map[string]network.Summary{}, services: map[string]swarm.Service{}}
	nets, err := d.API.NetworkList(ctx, client.NetworkListOptions{Filters: stackFilter(ns)})
	if err != nil {
		return nil, err
	}
	for _, n := range nets.Items {
		cur.networks[n.Name] = n
	}
	svcs, err := d.API.ServiceList(ctx, client.ServiceListOptions{Filters: stackFilter(ns)})
	if err != nil {
		return nil, err
	}
	for _, s := range svcs.Items {
		cur.services[s.Spec.Name] = s
	}
	if cur.secrets, err = (secretObjects{d.API}).list(ctx); err != nil {
		return nil, err
	}
	if cur.configs, err = (configObjects{d.API}).list(ctx); err != nil {
		return nil, err
	}
	return cur, nil
}

// checkExternal makes sure every external object the services use exists,
// naming all that do not.
func (d *Deployer) checkExternal(ctx context.Context, s *Stack, cur *state) error {
	var errs []error
	for _, name := range s.ExternalNetworks {
		if !userDefined(name) {
			continue
		}
		res, err := d.API.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		switch {
		case cerrdefs.IsNotFound(err):
			errs = append(errs, fmt.Errorf("network %q is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed", name))
		case err != nil:
			return err
		case res.Network.Scope != "swarm":
			errs = append(errs, fmt.Errorf("network %q is declared as external, but it is not in the right scope: %q instead of \"swarm\"", name, res.Network.Scope))
		}
	}
	for _, name := range s.ExternalSecrets {
		if _, ok := named(cur.secrets, name); !ok {
			errs = append(errs, fmt.Errorf("secret %q is declared as external, but could not be found: create it with `docker secret create` before the stack is deployed", name))
		}
	}
	for _, name := range s.ExternalConfigs {
		if _, ok := named(cur.configs, name); !ok {
			errs = append(errs, fmt.Errorf("config %q is declared as external, but could not be found: create it with `docker config create` before the stack is deployed", name))
		}
	}
	return errors.Join(errs...)
}

// prune removes the stack's services the files no longer have. Like docker,
// a failure is reported and the deploy goes on.
func (d *Deployer) prune(ctx context.Context, s *Stack, cur *state) {
	keep := map[string]bool{}
	for _, svc := range s.Services {
		keep[svc.Spec.Name] = true
	}
	for _, name := range sortedKeys(cur.services) {
		if keep[name] {
			continue
		}
		fmt.Fprintln(d.Out, "Removing service", name)
		if _, err := d.API.ServiceRemove(ctx, cur.services[name].ID, client.ServiceRemoveOptions{}); err != nil {
			fmt.Fprintf(d.Err, "Failed to remove service %s: %v\n", name, err)
			continue
		}
		delete(cur.services, name)
	}
}

// createNetworks creates the stack's networks that do not exist yet; one
// that exists is left as it is, as docker does (a network cannot be
// updated).
func (d *Deployer) createNetworks(ctx context.Context, s *Stack, cur *state) error {
	for _, n := range s.Networks {
		if _, ok := cur.networks[n.Name]; ok {
			continue
		}
		fmt.Fprintln(d.Out, "Creating network", n.Name)
		if _, err := d.API.NetworkCreate(ctx, n.Name, n.CreateOptions()); err != nil {
			return fmt.Errorf("failed to create network %s: %w", n.Name, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pause waits for the poll interval or ctx.
func (d *Deployer) pause(ctx context.Context) error {
	poll := d.Poll
	if poll == 0 {
		poll = 500 * time.Millisecond
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(poll):
		return nil
	}
}
