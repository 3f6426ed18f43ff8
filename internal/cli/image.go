package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shoal-project/shoal/internal/cli/format"
	"github.com/spf13/cobra"
)

func newImageCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images", Args: cobra.NoArgs}
	cmd.AddCommand(
		newImagePullCommand(e),
		newImageImportCommand(e),
		newImageLoadCommand(e),
		newImageListCommand(e),
		newImageRemoveCommand(e),
		newImageTagCommand(e),
		newImageInspectCommand(e),
		newImagePushCommand(e),
		newImageHistoryCommand(e),
		newImagePruneCommand(e),
	)
	return cmd
}

// showStream draws a JSON progress stream (pull, import, load) as docker
// does: progress bars in place on a terminal, status lines elsewhere.
func (e *env) showStream(out io.Writer, stream io.Reader) error {
	fd, isTerm := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(stream, out, fd, isTerm, nil)
}

func parsePlatform(s string) (ocispec.Platform, error) {
	if s == "" {
		return ocispec.Platform{}, nil
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: %w", s, err)
	}
	return p, nil
}

func newImagePullCommand(e *env) *cobra.Command {
	var (
		quiet    bool
		platform string
	)
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		named, err := reference.ParseNormalizedNamed(args[0])
		if err != nil {
			return fmt.Errorf("invalid reference %q: %w", args[0], err)
		}
		named = reference.TagNameOnly(named)
		var pull client.ImagePullOptions
		if platform != "" {
			p, err := parsePlatform(platform)
			if err != nil {
				return err
			}
			pull.Platforms = []ocispec.Platform{p}
		}
		resp, err := api.ImagePull(ctx, named.String(), pull)
		if err != nil {
			return err
		}
		defer resp.Close()
		out := e.out
		if quiet {
			out = io.Discard
		}
		if err := e.showStream(out, resp); err != nil {
			return err
		}
		e.println(named.String())
		return nil
	})
	return cmd
}

func newImageImportCommand(e *env) *cobra.Command {
	var (
		changes           []string
		message, platform string
	)
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cobra.RangeArgs(1, 2),
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	cmd.Flags().StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		ref := ""
		if len(args) == 2 {
			ref = args[1]
		}
		p, err := parsePlatform(platform)
		if err != nil {
			return err
		}
		var source client.ImageImportSource
		switch src := args[0]; {
		case src == "-":
			source = client.ImageImportSource{Source: e.in, SourceName: "-"}
		case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
			source = client.ImageImportSource{SourceName: src}
		default:
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			source = client.ImageImportSource{Source: f, SourceName: "-"}
		}
		resp, err := api.ImageImport(ctx, source, ref, client.ImageImportOptions{Changes: changes, Message: message, Platform: p})
		if err != nil {
			return err
		}
		defer resp.Close()
		return e.showStream(e.out, resp)
	})
	return cmd
}

func newImageLoadCommand(e *env) *cobra.Command {
	var (
		input string
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		in := e.in
		if input != "" {
			f, err := os.Open(input)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		} else if _, isTerm := term.GetFdInfo(e.in); isTerm {
			return errors.New("requested load from stdin, but stdin is empty")
		}
		resp, err := api.ImageLoad(ctx, in, client.ImageLoadWithQuiet(quiet))
		if err != nil {
			return err
		}
		defer resp.Close()
		return e.showStream(e.out, resp)
	})
	return cmd
}

func newImageListCommand(e *env) *cobra.Command {
	var (
		all, quiet, noTrunc bool
		filters             []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		f, err := parseFilters(filters)
		if err != nil {
			return err
		}
		if len(args) == 1 {
			f.Add("reference", args[0])
		}
		res, err := api.ImageList(ctx, client.ImageListOptions{All: all, Filters: f})
		if err != nil {
			return err
		}
		if quiet {
			for _, id := range format.ImageIDs(res.Items, noTrunc) {
				e.println(id)
			}
			return nil
		}
		return format.Table(e.out, format.ImageHeader, format.ImageRows(res.Items, noTrunc, e.clock.Now()))
	})
	return cmd
}

func newImageRemoveCommand(e *env) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more images",
		Args:    cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		return eachArg(args, func(arg string) error {
			res, err := api.ImageRemove(ctx, arg, client.ImageRemoveOptions{Force: force, PruneChildren: !noPrune})
			if err != nil {
				return e.explain(err)
			}
			for _, d := range res.Items {
				if d.Untagged != "" {
					e.printf("Untagged: %s\n", d.Untagged)
				}
				if d.Deleted != "" {
					e.printf("Deleted: %s\n", d.Deleted)
				}
			}
			return nil
		})
	})
	return cmd
}

func newImageTagCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		_, err := api.ImageTag(ctx, client.ImageTagOptions{Source: args[0], Target: args[1]})
		return err
	})
	return cmd
}

func newImageInspectCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		var raws []json.RawMessage
		for _, arg := range args {
			var raw bytes.Buffer
			if _, err := api.ImageInspect(ctx, arg, client.ImageInspectWithRawResponse(&raw)); err != nil {
				return err
			}
			raws = append(raws, bytes.TrimSpace(raw.Bytes()))
		}
		return writeInspect(e.out, raws)
	})
	return cmd
}
