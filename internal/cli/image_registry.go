package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newImagePushCommand is docker push, with the credentials docker login
// stored for the image's registry.
func newImagePushCommand(e *env) *cobra.Command {
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		named, err := reference.ParseNormalizedNamed(args[0])
		if err != nil {
			return fmt.Errorf("invalid reference %q: %w", args[0], err)
		}
		if all {
			if _, tagged := named.(reference.Tagged); tagged {
				return fmt.Errorf("tag can't be used with --all-tags/-a")
			}
		} else {
			named = reference.TagNameOnly(named)
		}
		auth, err := e.registryAuth(named.String())
		if err != nil {
			return err
		}
		resp, err := api.ImagePush(ctx, reference.FamiliarString(named), client.ImagePushOptions{All: all, RegistryAuth: auth})
		if err != nil {
			return err
		}
		defer resp.Close()
		out := e.out
		if quiet {
			out = &strings.Builder{}
		}
		if err := e.showStream(out, resp); err != nil {
			return err
		}
		if quiet {
			e.println(reference.FamiliarString(named))
		}
		return nil
	})
	return cmd
}

// newImageHistoryCommand is docker history's table.
func newImageHistoryCommand(e *env) *cobra.Command {
	var noTrunc, quiet bool
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		res, err := api.ImageHistory(ctx, args[0])
		if err != nil {
			return err
		}
		if quiet {
			for _, it := range res.Items {
				e.println(shortImageID(it.ID, noTrunc))
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.out, 10, 1, 3, ' ', 0)
		fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
		for _, it := range res.Items {
			by := strings.ReplaceAll(it.CreatedBy, "\t", " ")
			if !noTrunc && len(by) > 45 {
				by = by[:44] + "…"
			}
			created := "N/A"
			if it.Created > 0 {
				created = units.HumanDuration(time.Since(time.Unix(it.Created, 0))) + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shortImageID(it.ID, noTrunc), created, by, units.HumanSizeWithPrecision(float64(it.Size), 3), it.Comment)
		}
		return tw.Flush()
	})
	return cmd
}

// shortImageID is an image ID as docker history shows it.
func shortImageID(id string, noTrunc bool) string {
	if noTrunc || id == "<missing>" {
		return id
	}
	hex := strings.TrimPrefix(id, "sha256:")
	return hex[:min(12, len(hex))]
}

// newImagePruneCommand is docker image prune.
func newImagePruneCommand(e *env) *cobra.Command {
	var (
		all, force bool
		filterVals []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterVals, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		f, err := parseFilters(filterVals)
		if err != nil {
			return err
		}
		warning := "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
		if all {
			f.Add("dangling", "false")
			warning = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
		} else {
			f.Add("dangling", "true")
		}
		if !force && !e.confirm(warning) {
			return fmt.Errorf("image prune has been cancelled")
		}
		res, err := api.ImagePrune(ctx, client.ImagePruneOptions{Filters: f})
		if err != nil {
			return err
		}
		var out strings.Builder
		if len(res.Report.ImagesDeleted) > 0 {
			out.WriteString("Deleted Images:\n")
			for _, d := range res.Report.ImagesDeleted {
				if d.Untagged != "" {
					out.WriteString("untagged: " + d.Untagged + "\n")
				}
				if d.Deleted != "" {
					out.WriteString("deleted: " + d.Deleted + "\n")
				}
			}
			e.println(out.String())
		}
		e.println("Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
		return nil
	})
	return cmd
}
