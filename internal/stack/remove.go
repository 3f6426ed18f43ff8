package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// networkGoneTimeout bounds how long Remove waits for a network's last
// tasks to end so that it can be removed.
const networkGoneTimeout = 2 * time.Minute

// Remove removes each stack's services, then its secrets, configs and
// networks — never volumes, nor external objects, which carry no stack
// label. It returns once the networks are gone, so that the stack can be
// deployed again at once: a network is refused while the tasks of the
// removed services still end, so it is tried again until they have.
func (d *Deployer) Remove(ctx context.Context, namespaces []string) error {
	var errs []error
	for _, ns := range namespaces {
		if err := d.remove(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *Deployer) remove(ctx context.Context, ns string) error {
	f := stackFilter(ns)
	services, err := d.API.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	if err != nil {
		return err
	}
	networks, err := d.API.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return err
	}
	secrets, err := d.API.SecretList(ctx, client.SecretListOptions{Filters: f})
	if err != nil {
		return err
	}
	configs, err := d.API.ConfigList(ctx, client.ConfigListOptions{Filters: f})
	if err != nil {
		return err
	}
	if len(services.Items)+len(networks.Items)+len(secrets.Items)+len(configs.Items) == 0 {
		fmt.Fprintln(d.Err, "Nothing found in stack:", ns)
		return nil
	}
	failed := false
	report := func(kind, name string, err error) {
		if err != nil {
			failed = true
			fmt.Fprintf(d.Err, "Failed to remove %s %s: %v\n", kind, name, err)
		}
	}
	slices.SortFunc(services.Items, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	for _, s := range services.Items {
		fmt.Fprintln(d.Out, "Removing service", s.Spec.Name)
		_, err := d.API.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{})
		report("service", s.Spec.Name, err)
	}
	for _, s := range secrets.Items {
		fmt.Fprintln(d.Out, "Removing secret", s.Spec.Name)
		_, err := d.API.SecretRemove(ctx, s.ID, client.SecretRemoveOptions{})
		report("secret", s.Spec.Name, err)
	}
	for _, c := range configs.Items {
		fmt.Fprintln(d.Out, "Removing config", c.Spec.Name)
		_, err := d.API.ConfigRemove(ctx, c.ID, client.ConfigRemoveOptions{})
		report("config", c.Spec.Name, err)
	}
	for _, n := range networks.Items {
		fmt.Fprintln(d.Out, "Removing network", n.Name)
		report("network", n.Name, d.removeNetwork(ctx, n))
	}
	if failed {
		return errors.New("failed to remove some resources from stack: " + ns)
	}
	return nil
}

// removeNetwork removes a network once no task holds it any more, and
// returns when it is gone.
func (d *Deployer) removeNetwork(ctx context.Context, n network.Summary) error {
	ctx, cancel := context.WithTimeout(ctx, networkGoneTimeout)
	defer cancel()
	for {
		_, err := d.API.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		switch {
		case err == nil, cerrdefs.IsNotFound(err):
			return d.waitGone(ctx, n.ID)
		case !inUseByTask(err):
			return err
		}
		if werr := d.pause(ctx); werr != nil {
			return fmt.Errorf("%w (gave up waiting for its tasks to end)", err)
		}
	}
}

// inUseByTask says whether a network was refused because a task of a
// removed service still holds it.
func inUseByTask(err error) bool {
	return strings.Contains(err.Error(), "in use by task")
}

func (d *Deployer) waitGone(ctx context.Context, id string) error {
	for {
		_, err := d.API.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err := d.pause(ctx); err != nil {
			return err
		}
	}
}
