package cli

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/internal/cli/opts"
)

// The volume commands: a node's own volumes, as `docker volume` shows them.

func newVolumeCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes", Args: cobra.NoArgs}
	cmd.AddCommand(
		newVolumeCreateCommand(e),
		newVolumeListCommand(e),
		newVolumeInspectCommand(e),
		newVolumeRemoveCommand(e),
		newVolumePruneCommand(e),
	)
	return cmd
}

func newVolumeCreateCommand(e *env) *cobra.Command {
	var driver string
	labels := opts.NewList(opts.LabelValidator)
	driverOpts := opts.NewList(nil)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
	}
	cmd.Flags().StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	cmd.Flags().VarP(driverOpts, "opt", "o", "Set driver specific options (type, device, o)")
	cmd.Flags().Var(labels, "label", "Set metadata for a volume")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		var name string
		if len(args) == 1 {
			name = args[0]
		}
		res, err := api.VolumeCreate(ctx, client.VolumeCreateOptions{
			Name: name, Driver: driver, DriverOpts: opts.KVMap(driverOpts.Values), Labels: opts.KVMap(labels.Values),
		})
		if err != nil {
			return err
		}
		e.println(res.Volume.Name)
		return nil
	})
	return cmd
}

// volumeRow is a volume as `volume ls --format` templates see it, fields
// in alphabetical order for "json".
type volumeRow struct {
	Driver, Labels, Mountpoint, Name, Scope string

	labels map[string]string
}

// ID is the volume's name: a volume has no other, and quiet listings print
// {{.ID}}.
func (r volumeRow) ID() string { return r.Name }

// Label is the value of one label, for {{.Label "key"}}.
func (r volumeRow) Label(key string) string { return r.labels[key] }

var volumeHeader = listHeader{"Driver": "DRIVER", "Name": "VOLUME NAME", "ID": "VOLUME NAME", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS"}

const volumeTable = `table {{.Driver}}\t{{.Name}}`

// volumeRows renders volumes for `volume ls`, ordered by name as docker
// orders them.
func volumeRows(vs []volume.Volume) []any {
	slices.SortStableFunc(vs, func(a, b volume.Volume) int { return naturalCmp(a.Name, b.Name) })
	rows := make([]any, 0, len(vs))
	for _, v := range vs {
		rows = append(rows, volumeRow{
			Driver: v.Driver, Name: v.Name, Scope: v.Scope, Mountpoint: v.Mountpoint,
			Labels: joinLabels(v.Labels), labels: v.Labels,
		})
	}
	return rows
}

func newVolumeListCommand(e *env) *cobra.Command {
	cmd := newObjectListCommand(e, "volumes", volumeTable, volumeHeader, func(ctx context.Context, api *client.Client, f client.Filters) ([]any, error) {
		res, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: f})
		return volumeRows(res.Items), err
	})
	cmd.Flags().Lookup("quiet").Usage = "Only display volume names"
	return cmd
}

func newVolumeInspectCommand(e *env) *cobra.Command {
	var inspectFormat string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().StringVarP(&inspectFormat, "format", "f", "", inspectFormatHelp)
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		return e.inspectObjects(inspectFormat, args, func(ref string) (any, []byte, error) {
			res, err := api.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
			return res.Volume, res.Raw, err
		})
	})
	return cmd
}

func newVolumeRemoveCommand(e *env) *cobra.Command {
	var force bool
	cmd := newObjectRemoveCommand(e, "VOLUME", "volumes", func(ctx context.Context, api *client.Client, ref string) error {
		_, err := api.VolumeRemove(ctx, ref, client.VolumeRemoveOptions{Force: force})
		return err
	})
	cmd.Short = "Remove one or more volumes. You cannot remove a volume that is in use by a container."
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

const (
	anonymousVolumesWarning = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
	allVolumesWarning       = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
)

func newVolumePruneCommand(e *env) *cobra.Command {
	var (
		all, force    bool
		filterFlagVal []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterFlagVal, "filter", nil, `Provide filter values (e.g. "label=<label>")`)
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		f, err := parseFilters(filterFlagVal)
		if err != nil {
			return err
		}
		warning := anonymousVolumesWarning
		if all {
			if _, ok := f["all"]; ok {
				return fmt.Errorf("conflicting options: cannot specify both --all and --filter all=1")
			}
			warning = allVolumesWarning
		}
		if !force && !e.confirm(warning) {
			return fmt.Errorf("volume prune has been cancelled")
		}
		res, err := api.VolumePrune(ctx, client.VolumePruneOptions{All: all, Filters: f})
		if err != nil {
			return err
		}
		var out strings.Builder
		if len(res.Report.VolumesDeleted) > 0 {
			out.WriteString("Deleted Volumes:\n")
			for _, name := range res.Report.VolumesDeleted {
				out.WriteString(name + "\n")
			}
			e.println(out.String())
		}
		e.println("Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
		return nil
	})
	return cmd
}

// confirm asks the question on standard output and reads a yes from
// standard input, as docker's prompts do: only "y" or "yes" is yes.
func (e *env) confirm(question string) bool {
	e.printf("%s [y/N] ", question)
	answer, _ := bufio.NewReader(e.in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true
	}
	return false
}
