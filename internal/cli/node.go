package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/format"
	"github.com/shoal-project/shoal/internal/cli/opts"
	"github.com/spf13/cobra"
)

func newNodeCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Manage swarm nodes", Args: cobra.NoArgs}
	cmd.AddCommand(
		newNodeListCommand(e),
		newNodeInspectCommand(e),
		newNodePsCommand(e),
		newNodeUpdateCommand(e),
		newNodeRoleCommand(e, "promote", swarm.NodeRoleManager),
		newNodeRoleCommand(e, "demote", swarm.NodeRoleWorker),
		newNodeRemoveCommand(e),
	)
	return cmd
}

func newNodeListCommand(e *env) *cobra.Command {
	var (
		quiet   bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List nodes in the swarm",
		Args:    cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		f, err := parseFilters(filters)
		if err != nil {
			return err
		}
		nodes, err := api.NodeList(ctx, client.NodeListOptions{Filters: f})
		if err != nil {
			return err
		}
		if quiet {
			for _, id := range format.NodeIDs(nodes.Items) {
				e.println(id)
			}
			return nil
		}
		info, err := api.Info(ctx, client.InfoOptions{})
		if err != nil {
			return err
		}
		return format.Table(e.out, format.NodeHeader, format.NodeRows(nodes.Items, info.Info.Swarm.NodeID))
	})
	return cmd
}

func newNodeInspectCommand(e *env) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] self|NODE [NODE...]",
		Short: "Display detailed information on one or more nodes",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		var raws []json.RawMessage
		for i, arg := range args {
			id, err := resolveNode(ctx, api, arg)
			if err != nil {
				return err
			}
			res, err := api.NodeInspect(ctx, id, client.NodeInspectOptions{})
			if err != nil {
				return err
			}
			if !pretty {
				raws = append(raws, res.Raw)
				continue
			}
			if i > 0 {
				e.println()
			}
			if err := format.NodePretty(e.out, res.Node); err != nil {
				return err
			}
		}
		if pretty {
			return nil
		}
		return writeInspect(e.out, raws)
	})
	return cmd
}

func newNodePsCommand(e *env) *cobra.Command {
	var (
		noTrunc, quiet bool
		filters        []string
	)
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [NODE...]",
		Short: "List tasks running on one or more nodes, defaults to current node",
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display task IDs")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		if len(args) == 0 {
			args = []string{"self"}
		}
		var tasks []swarm.Task
		for _, arg := range args {
			id, err := resolveNode(ctx, api, arg)
			if err != nil {
				return err
			}
			node, err := api.NodeInspect(ctx, id, client.NodeInspectOptions{})
			if err != nil {
				return err
			}
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			res, err := api.TaskList(ctx, client.TaskListOptions{Filters: f.Add("node", node.Node.ID)})
			if err != nil {
				return err
			}
			tasks = append(tasks, res.Items...)
		}
		return e.printTasks(ctx, api, tasks, noTrunc, quiet)
	})
	return cmd
}

// printTasks writes the task table of `service ps` and `node ps`.
func (e *env) printTasks(ctx context.Context, api *client.Client, tasks []swarm.Task, noTrunc, quiet bool) error {
	l := format.TaskListing{Tasks: tasks, NoTrunc: noTrunc, Now: e.clock.Now()}
	if quiet {
		for _, id := range format.TaskIDs(l) {
			e.println(id)
		}
		return nil
	}
	l.ServiceNames, l.NodeNames = newNames(api).forTasks(ctx, tasks)
	return format.Table(e.out, format.TaskHeader, format.TaskRows(l))
}

func newNodeUpdateCommand(e *env) *cobra.Command {
	var (
		availability, role string
		labelAdd, labelRm  []string
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] NODE",
		Short: "Update a node",
		Args:  cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringVar(&availability, "availability", "", `Availability of the node ("active", "pause", "drain")`)
	fs.StringVar(&role, "role", "", `Role of the node ("worker", "manager")`)
	fs.StringArrayVar(&labelAdd, "label-add", nil, "Add or update a node label (key=value)")
	fs.StringArrayVar(&labelRm, "label-rm", nil, "Remove a node label if exists")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, args []string) error {
		changed := cmd.Flags().Changed
		err := updateNode(ctx, api, args[0], func(spec *swarm.NodeSpec) error {
			if changed("availability") {
				a, err := parseAvailability(availability)
				if err != nil {
					return err
				}
				spec.Availability = a
			}
			if changed("role") {
				switch r := swarm.NodeRole(role); r {
				case swarm.NodeRoleWorker, swarm.NodeRoleManager:
					spec.Role = r
				default:
					return fmt.Errorf("invalid role %q, only worker and manager are supported", role)
				}
			}
			for _, k := range labelRm {
				if _, ok := spec.Labels[k]; !ok {
					return fmt.Errorf("key %s doesn't exist in node's labels", k)
				}
				delete(spec.Labels, k)
			}
			if len(labelAdd) > 0 {
				if spec.Labels == nil {
					spec.Labels = map[string]string{}
				}
				for k, v := range opts.KVMap(labelAdd) {
					spec.Labels[k] = v
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		e.println(args[0])
		return nil
	})
	return cmd
}

// errNoChange tells updateNode that the node already is as asked.
var errNoChange = errors.New("no change")

// updateNode reads the node, lets edit change its spec, and writes it back at
// the version read, unless edit returns errNoChange.
func updateNode(ctx context.Context, api *client.Client, ref string, edit func(*swarm.NodeSpec) error) error {
	id, err := resolveNode(ctx, api, ref)
	if err != nil {
		return err
	}
	res, err := api.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		return err
	}
	spec := res.Node.Spec
	if err := edit(&spec); errors.Is(err, errNoChange) {
		return nil
	} else if err != nil {
		return err
	}
	_, err = api.NodeUpdate(ctx, res.Node.ID, client.NodeUpdateOptions{Version: res.Node.Version, Spec: spec})
	return err
}

func newNodeRoleCommand(e *env, verb string, role swarm.NodeRole) *cobra.Command {
	short := "Promote one or more nodes to manager in the swarm"
	if role == swarm.NodeRoleWorker {
		short = "Demote one or more nodes from manager in the swarm"
	}
	cmd := &cobra.Command{
		Use:   verb + " NODE [NODE...]",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		for _, arg := range args {
			already := false
			err := updateNode(ctx, api, arg, func(spec *swarm.NodeSpec) error {
				if spec.Role == role {
					already = true
					return errNoChange
				}
				spec.Role = role
				return nil
			})
			if err != nil {
				return err
			}
			switch {
			case already && role == swarm.NodeRoleManager:
				e.printf("Node %s is already a manager.\n", arg)
			case already:
				e.printf("Node %s is already a worker.\n", arg)
			case role == swarm.NodeRoleManager:
				e.printf("Node %s promoted to a manager in the swarm.\n", arg)
			default:
				e.printf("Manager %s demoted in the swarm.\n", arg)
			}
		}
		return nil
	})
	return cmd
}

func newNodeRemoveCommand(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more nodes from the swarm",
		Args:    cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force remove a node from the swarm")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		return eachArg(args, func(arg string) error {
			id, err := resolveNode(ctx, api, arg)
			if err != nil {
				return err
			}
			if _, err := api.NodeRemove(ctx, id, client.NodeRemoveOptions{Force: force}); err != nil {
				return e.explain(err)
			}
			e.println(arg)
			return nil
		})
	})
	return cmd
}
