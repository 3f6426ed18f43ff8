package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/converge"
	"github.com/shoal-project/shoal/internal/cli/format"
	"github.com/shoal-project/shoal/internal/cli/opts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newServiceCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Manage swarm services", Args: cobra.NoArgs}
	cmd.AddCommand(
		newServiceCreateCommand(e),
		newServiceUpdateCommand(e),
		newServiceRollbackCommand(e),
		newServicePromoteCommand(e),
		newServiceScaleCommand(e),
		newServiceListCommand(e),
		newServicePsCommand(e),
		newServiceInspectCommand(e),
		newServiceRemoveCommand(e),
		newServiceLogsCommand(e),
		newServiceRebalanceCommand(e),
	)
	return cmd
}

// networkResolver maps --network names to IDs through the daemon.
func networkResolver(ctx context.Context, api *client.Client) opts.ResolveNetwork {
	return func(nameOrID string) (string, error) {
		res, err := api.NetworkInspect(ctx, nameOrID, client.NetworkInspectOptions{Scope: "swarm"})
		if err != nil {
			return "", err
		}
		return res.Network.ID, nil
	}
}

func (e *env) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(e.errOut, w)
	}
}

// waitOnService shows the service converging, unless quiet, until it has.
func (e *env) waitOnService(ctx context.Context, api *client.Client, serviceID string, quiet bool) error {
	var out io.Writer = e.out
	tty, width := e.outIsTerminal()
	if quiet {
		out, tty = io.Discard, false
	}
	interrupt, stop := e.interrupt()
	defer stop()
	return converge.Wait(ctx, api, serviceID, converge.NewDisplay(out, tty, width), e.clock, interrupt)
}

func newServiceCreateCommand(e *env) *cobra.Command {
	o := opts.NewService(e.lookupEnv)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new service",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().SetInterspersed(false)
	o.AddCreateFlags(cmd.Flags())
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, args []string) error {
		spec, err := o.Spec(args[0], args[1:], cmd.Flags().Changed, networkResolver(ctx, api))
		if err != nil {
			return err
		}
		res, err := api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec, QueryRegistry: !o.NoResolveImage})
		if err != nil {
			return err
		}
		e.warn(res.Warnings)
		e.println(res.ID)
		if o.Detach {
			return nil
		}
		return e.waitOnService(ctx, api, res.ID, o.Quiet)
	})
	return cmd
}

func newServiceUpdateCommand(e *env) *cobra.Command {
	o := opts.NewService(e.lookupEnv)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Args:  cobra.ExactArgs(1),
	}
	o.AddUpdateFlags(cmd.Flags())
	canary := addCanaryFlags(cmd.Flags())
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, args []string) error {
		res, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		svc := res.Service
		update := client.ServiceUpdateOptions{Version: svc.Version, Spec: svc.Spec, RegistryAuthFrom: swarm.RegistryAuthFromSpec}
		flags := cmd.Flags()
		if o.Rollback {
			// Flags() also holds the root's persistent flags (-H, --log-level),
			// which may go with anything.
			local := cmd.LocalFlags()
			visit := func(fn func(string)) {
				flags.Visit(func(f *pflag.Flag) {
					if local.Lookup(f.Name) != nil {
						fn(f.Name)
					}
				})
			}
			if err := opts.OnlyRollbackFlags(visit); err != nil {
				return err
			}
			update.Rollback = "previous"
		} else {
			if err := o.Apply(&update.Spec, flags.Changed, networkResolver(ctx, api)); err != nil {
				return err
			}
			update.QueryRegistry = flags.Changed(opts.FlagImage) && !o.NoResolveImage
		}
		if canary.asked() {
			return e.updateCanary(ctx, api, svc, update.Spec, canary, o.Detach, o.Quiet)
		}
		out, err := api.ServiceUpdate(ctx, svc.ID, update)
		if err != nil {
			return err
		}
		e.warn(out.Warnings)
		e.println(args[0])
		if o.Detach {
			return nil
		}
		return e.waitOnService(ctx, api, svc.ID, o.Quiet)
	})
	return cmd
}

func newServiceRollbackCommand(e *env) *cobra.Command {
	var detach, quiet bool
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] SERVICE",
		Short: "Revert changes to a service's configuration",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVarP(&detach, opts.FlagDetach, "d", false, "Exit immediately instead of waiting for the service to converge")
	cmd.Flags().BoolVarP(&quiet, opts.FlagQuiet, "q", false, "Suppress progress output")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		res, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		out, err := api.ServiceUpdate(ctx, res.Service.ID, client.ServiceUpdateOptions{
			Version: res.Service.Version, Spec: res.Service.Spec, Rollback: "previous",
		})
		if err != nil {
			return err
		}
		e.warn(out.Warnings)
		e.println(args[0])
		if detach {
			return nil
		}
		return e.waitOnService(ctx, api, res.Service.ID, quiet)
	})
	return cmd
}

type scaleTarget struct {
	service  string
	replicas uint64
}

func parseScaleArgs(args []string) ([]scaleTarget, error) {
	var out []scaleTarget
	for _, arg := range args {
		name, n, ok := strings.Cut(arg, "=")
		replicas, err := strconv.ParseUint(n, 10, 64)
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("invalid scale specifier %q: want SERVICE=REPLICAS, e.g. web=3", arg)
		}
		out = append(out, scaleTarget{name, replicas})
	}
	return out, nil
}

func newServiceScaleCommand(e *env) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Short: "Scale one or multiple replicated services",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVarP(&detach, opts.FlagDetach, "d", false, "Exit immediately instead of waiting for the service to converge")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		targets, err := parseScaleArgs(args)
		if err != nil {
			return err
		}
		var errs []error
		var scaled []string
		for _, t := range targets {
			id, err := e.scale(ctx, api, t)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", t.service, e.explain(err)))
				continue
			}
			scaled = append(scaled, id)
		}
		if !detach {
			for _, id := range scaled {
				if err := e.waitOnService(ctx, api, id, false); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", id, e.explain(err)))
				}
			}
		}
		return errors.Join(errs...)
	})
	return cmd
}

func (e *env) scale(ctx context.Context, api *client.Client, t scaleTarget) (string, error) {
	res, err := api.ServiceInspect(ctx, t.service, client.ServiceInspectOptions{})
	if err != nil {
		return "", err
	}
	spec := res.Service.Spec
	n := t.replicas
	switch {
	case spec.Mode.Replicated != nil:
		spec.Mode.Replicated.Replicas = &n
	case spec.Mode.ReplicatedJob != nil:
		spec.Mode.ReplicatedJob.TotalCompletions = &n
	default:
		return "", errors.New("scale can only be used with replicated or replicated-job mode")
	}
	out, err := api.ServiceUpdate(ctx, res.Service.ID, client.ServiceUpdateOptions{Version: res.Service.Version, Spec: spec})
	if err != nil {
		return "", err
	}
	e.warn(out.Warnings)
	e.printf("%s scaled to %d\n", t.service, n)
	return res.Service.ID, nil
}

func newServiceListCommand(e *env) *cobra.Command {
	var (
		quiet   bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List services",
		Args:    cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		f, err := parseFilters(filters)
		if err != nil {
			return err
		}
		res, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: f, Status: true})
		if err != nil {
			return err
		}
		return e.printServices(res.Items, quiet)
	})
	return cmd
}

func newServicePsCommand(e *env) *cobra.Command {
	var (
		noTrunc, quiet bool
		filters        []string
	)
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] SERVICE [SERVICE...]",
		Short: "List the tasks of one or more services",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display task IDs")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		f, err := parseFilters(filters)
		if err != nil {
			return err
		}
		ids, err := resolveServices(ctx, api, args)
		if err != nil {
			return err
		}
		f.Add("service", ids...)
		res, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
		if err != nil {
			return err
		}
		return e.printTasks(ctx, api, res.Items, noTrunc, quiet)
	})
	return cmd
}

// resolveServices finds each named service by ID prefix or exact name, as
// `docker service ps` does, and fails naming every one not found.
func resolveServices(ctx context.Context, api *client.Client, refs []string) ([]string, error) {
	byID, byName := make(client.Filters), make(client.Filters)
	for _, r := range refs {
		byID.Add("id", r)
		byName.Add("name", r)
	}
	idMatches, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: byID})
	if err != nil {
		return nil, err
	}
	nameMatches, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: byName})
	if err != nil {
		return nil, err
	}
	var ids, missing []string
	for _, r := range refs {
		found := false
		for _, s := range idMatches.Items {
			if strings.HasPrefix(s.ID, r) {
				ids, found = append(ids, s.ID), true
			}
		}
		for _, s := range nameMatches.Items {
			if s.Spec.Name == r {
				ids, found = append(ids, s.ID), true
			}
		}
		if !found {
			missing = append(missing, "no such service: "+r)
		}
	}
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, "\n"))
	}
	return ids, nil
}

func newServiceInspectCommand(e *env) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SERVICE [SERVICE...]",
		Short: "Display detailed information on one or more services",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		var raws []json.RawMessage
		for _, arg := range args {
			res, err := api.ServiceInspect(ctx, arg, client.ServiceInspectOptions{InsertDefaults: true})
			if err != nil {
				return err
			}
			if !pretty {
				raws = append(raws, withCanary(ctx, api, res.Service.ID, res.Raw))
				continue
			}
			networks := map[string]string{}
			for _, n := range res.Service.Spec.TaskTemplate.Networks {
				if nw, err := api.NetworkInspect(ctx, n.Target, client.NetworkInspectOptions{Scope: "swarm"}); err == nil {
					networks[n.Target] = nw.Network.Name
				}
			}
			if err := format.ServicePretty(e.out, res.Service, networks, e.clock.Now()); err != nil {
				return err
			}
			e.prettyCanary(ctx, api, res.Service.ID)
		}
		if pretty {
			return nil
		}
		return writeInspect(e.out, raws)
	})
	return cmd
}

func newServiceRemoveCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm SERVICE [SERVICE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more services",
		Args:    cobra.MinimumNArgs(1),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		return eachArg(args, func(arg string) error {
			if _, err := api.ServiceRemove(ctx, arg, client.ServiceRemoveOptions{}); err != nil {
				return e.explain(err)
			}
			e.println(arg)
			return nil
		})
	})
	return cmd
}

// printServices prints services as docker service ls does: their IDs
// alone when quiet, otherwise the table.
func (e *env) printServices(services []swarm.Service, quiet bool) error {
	if quiet {
		for _, id := range format.ServiceIDs(services) {
			e.println(id)
		}
		return nil
	}
	return format.Table(e.out, format.ServiceHeader, format.ServiceRows(services))
}
