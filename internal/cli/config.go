package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/format"
	"github.com/shoal-project/shoal/internal/cli/opts"
	"github.com/spf13/cobra"
)

// maxConfigSize is the daemon's limit on a config's data (SwarmKit's).
const maxConfigSize = 1000 * 1024

func newConfigCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Manage swarm configs", Args: cobra.NoArgs}
	cmd.AddCommand(
		newConfigCreateCommand(e),
		newConfigListCommand(e),
		newConfigInspectCommand(e),
		newConfigRemoveCommand(e),
	)
	return cmd
}

func newConfigCreateCommand(e *env) *cobra.Command {
	labels := opts.NewList(opts.LabelValidator)
	var templateDriver string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] CONFIG file|-",
		Short: "Create a config from a file or STDIN",
		Args:  cobra.ExactArgs(2),
	}
	cmd.Flags().VarP(labels, "label", "l", "Config labels")
	cmd.Flags().StringVar(&templateDriver, "template-driver", "", "Template driver")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		data, err := readObjectData(e.in, args[1], maxConfigSize)
		if err != nil {
			return fmt.Errorf("error reading content from %q: %w", args[1], err)
		}
		spec := swarm.ConfigSpec{
			Annotations: swarm.Annotations{Name: args[0], Labels: opts.KVMap(labels.Values)},
			Data:        data,
		}
		if templateDriver != "" {
			spec.Templating = &swarm.Driver{Name: templateDriver}
		}
		res, err := api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: spec})
		if err != nil {
			return err
		}
		e.println(res.ID)
		return nil
	})
	return cmd
}

// configRow is a config as `config ls --format` templates see it, fields in
// alphabetical order for "json" (see secretRow).
type configRow struct {
	CreatedAt, ID, Labels, Name, UpdatedAt string

	labels map[string]string
}

// Label is the value of one label, for {{.Label "key"}}.
func (r configRow) Label(key string) string { return r.labels[key] }

var configHeader = listHeader{"ID": "ID", "Name": "NAME", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED", "Labels": "LABELS"}

const configTable = `table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}`

// configRows renders configs for `config ls`, ordered by name.
func configRows(configs []swarm.Config, now time.Time) []any {
	slices.SortStableFunc(configs, func(a, b swarm.Config) int { return naturalCmp(a.Spec.Name, b.Spec.Name) })
	rows := make([]any, 0, len(configs))
	for _, c := range configs {
		rows = append(rows, configRow{
			ID: c.ID, Name: c.Spec.Name, Labels: joinLabels(c.Spec.Labels), labels: c.Spec.Labels,
			CreatedAt: format.AgoCapitalized(c.CreatedAt, now), UpdatedAt: format.AgoCapitalized(c.UpdatedAt, now),
		})
	}
	return rows
}

func newConfigListCommand(e *env) *cobra.Command {
	return newObjectListCommand(e, "configs", configTable, configHeader, func(ctx context.Context, api *client.Client, f client.Filters) ([]any, error) {
		res, err := api.ConfigList(ctx, client.ConfigListOptions{Filters: f})
		return configRows(res.Items, e.clock.Now()), err
	})
}

func newConfigInspectCommand(e *env) *cobra.Command {
	var (
		pretty        bool
		inspectFormat string
	)
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONFIG [CONFIG...]",
		Short: "Display detailed information on one or more configs",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().StringVarP(&inspectFormat, "format", "f", "", inspectFormatHelp)
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		usePretty, err := wantsPretty(pretty, inspectFormat)
		if err != nil {
			return err
		}
		if !usePretty {
			return e.inspectObjects(inspectFormat, args, func(ref string) (any, []byte, error) {
				res, err := api.ConfigInspect(ctx, ref, client.ConfigInspectOptions{})
				return res.Config, res.Raw, err
			})
		}
		var out bytes.Buffer
		for _, ref := range args {
			res, err := api.ConfigInspect(ctx, ref, client.ConfigInspectOptions{})
			if err != nil {
				return err
			}
			configPretty(&out, res.Config)
		}
		_, err = out.WriteTo(e.out)
		return err
	})
	return cmd
}

// configPretty writes `config inspect --pretty` for one config, data and
// all, spaced as docker spaces it.
func configPretty(w io.Writer, c swarm.Config) {
	fmt.Fprintf(w, "ID:\t\t\t%s\n", c.ID)
	fmt.Fprintf(w, "Name:\t\t\t%s\n", c.Spec.Name)
	writePrettyLabels(w, c.Spec.Labels)
	fmt.Fprintf(w, "Created at:            \t%s\n", prettyTime(c.CreatedAt))
	fmt.Fprintf(w, "Updated at:            \t%s\n", prettyTime(c.UpdatedAt))
	fmt.Fprintf(w, "Data:\n%s\n", c.Spec.Data)
}

func newConfigRemoveCommand(e *env) *cobra.Command {
	return newObjectRemoveCommand(e, "CONFIG", "configs", func(ctx context.Context, api *client.Client, ref string) error {
		_, err := api.ConfigRemove(ctx, ref, client.ConfigRemoveOptions{})
		return err
	})
}
