package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/format"
	"github.com/shoal-project/shoal/internal/stack"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newStackCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "stack", Short: "Manage Swarm stacks", Args: cobra.NoArgs}
	cmd.AddCommand(
		newStackDeployCommand(e),
		newStackListCommand(e),
		newStackServicesCommand(e),
		newStackPsCommand(e),
		newStackRemoveCommand(e),
	)
	return cmd
}

func (e *env) deployer(api *client.Client) *stack.Deployer {
	return &stack.Deployer{API: api, Out: e.out, Err: e.errOut}
}

func newStackDeployCommand(e *env) *cobra.Command {
	var (
		files                       []string
		resolveImage                string
		prune, registryAuth, detach bool
		quiet                       bool
	)
	cmd := &cobra.Command{
		Use:     "deploy [OPTIONS] STACK",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing stack",
		Long: "Deploy a new stack or update an existing stack from compose files, as docker stack deploy does,\n" +
			"and beyond it: depends_on is honoured (service_healthy, service_completed_successfully),\n" +
			"the project's .env is read, and a secret or config whose content changed is rotated.",
		Args: cobra.ExactArgs(1),
	}
	flags := cmd.Flags()
	flags.StringSliceVarP(&files, "compose-file", "c", nil, "Path to a Compose file")
	flags.BoolVar(&registryAuth, "with-registry-auth", false, "Send registry authentication details to Swarm agents")
	flags.BoolVar(&prune, "prune", false, "Prune services that are no longer referenced")
	flags.StringVar(&resolveImage, "resolve-image", stack.ResolveImageAlways,
		`Query the registry to resolve image digest and supported platforms ("always", "changed", "never")`)
	flags.BoolVarP(&detach, "detach", "d", true, "Exit immediately instead of waiting for the stack services to converge")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Suppress progress output")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, args []string) error {
		// compose-go reports through logrus: unset variables are warnings
		// worth showing, the obsolete `version` key of every stack file is not.
		logrus.SetOutput(e.errOut)
		logrus.SetFormatter(composeLog{})
		p, err := stack.Load(ctx, stack.LoadOptions{Files: files, Namespace: args[0], Env: os.Environ()})
		if err != nil {
			return err
		}
		if len(p.Unsupported) > 0 {
			fmt.Fprintf(e.errOut, "Ignoring unsupported options: %s\n\n", strings.Join(p.Unsupported, ", "))
		}
		if len(p.Deprecated) > 0 {
			var lines []string
			for _, k := range slices.Sorted(maps.Keys(p.Deprecated)) {
				lines = append(lines, k+": "+p.Deprecated[k])
			}
			fmt.Fprintf(e.errOut, "Ignoring deprecated options:\n\n%s\n\n", strings.Join(lines, "\n\n"))
		}
		s, err := stack.Convert(p)
		if err != nil {
			return err
		}
		if detach && !cmd.Flags().Changed("detach") {
			fmt.Fprintln(e.errOut, "Since --detach=false was not specified, tasks will be created in the background.\n"+
				"In a future release, --detach=false will become the default.")
		}
		d := e.deployer(api)
		d.Converge = func(ctx context.Context, id string) error { return e.waitOnService(ctx, api, id, quiet) }
		o := stack.DeployOptions{Prune: prune, ResolveImage: resolveImage, Detach: detach}
		if registryAuth {
			o.RegistryAuth = e.registryAuth
		}
		return d.Deploy(ctx, s, o)
	})
	return cmd
}

// composeLog prints compose-go's warnings as the CLI's own.
type composeLog struct{}

func (composeLog) Format(entry *logrus.Entry) ([]byte, error) {
	if strings.Contains(entry.Message, "the attribute `version` is obsolete") {
		return nil, nil
	}
	return []byte("Warning: " + entry.Message + "\n"), nil
}

// registryAuth encodes the credentials docker's config file (and its
// credential helpers) hold for the registry of image, as docker does for
// --with-registry-auth.
func (e *env) registryAuth(image string) (string, error) {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", err
	}
	host := reference.Domain(ref)
	if host == "docker.io" {
		host = "https://index.docker.io/v1/"
	}
	auth, err := dockerconfig.LoadDefaultConfigFile(e.errOut).GetAuthConfig(host)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(registry.AuthConfig{
		Username: auth.Username, Password: auth.Password, ServerAddress: auth.ServerAddress,
		IdentityToken: auth.IdentityToken, RegistryToken: auth.RegistryToken,
	})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(data), nil
}

func newStackListCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List stacks",
		Args:    cobra.NoArgs,
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		res, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", stack.LabelNamespace)})
		if err != nil {
			return err
		}
		count := map[string]int{}
		for _, s := range res.Items {
			count[s.Spec.Labels[stack.LabelNamespace]]++
		}
		var rows [][]string
		for _, name := range slices.Sorted(maps.Keys(count)) {
			rows = append(rows, []string{name, strconv.Itoa(count[name])})
		}
		return format.Table(e.out, []string{"NAME", "SERVICES"}, rows)
	})
	return cmd
}

// stackFilters are the --filter flags with the stack's label added.
func stackFilters(ns string, values []string) (client.Filters, error) {
	f, err := parseFilters(values)
	if err != nil {
		return nil, err
	}
	return f.Add("label", stack.LabelNamespace+"="+ns), nil
}

func newStackServicesCommand(e *env) *cobra.Command {
	var (
		quiet   bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "services [OPTIONS] STACK",
		Short: "List the services in the stack",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		f, err := stackFilters(args[0], filters)
		if err != nil {
			return err
		}
		res, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: f, Status: !quiet})
		if err != nil {
			return err
		}
		if len(res.Items) == 0 {
			fmt.Fprintln(e.errOut, "Nothing found in stack:", args[0])
			return nil
		}
		return e.printServices(res.Items, quiet)
	})
	return cmd
}

func newStackPsCommand(e *env) *cobra.Command {
	var (
		noTrunc, quiet bool
		filters        []string
	)
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] STACK",
		Short: "List the tasks in the stack",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display task IDs")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		f, err := stackFilters(args[0], filters)
		if err != nil {
			return err
		}
		res, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
		if err != nil {
			return err
		}
		if len(res.Items) == 0 {
			return fmt.Errorf("nothing found in stack: %s", args[0])
		}
		return e.printTasks(ctx, api, res.Items, noTrunc, quiet)
	})
	return cmd
}

func newStackRemoveCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm STACK [STACK...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove one or more stacks",
		Long:    "Remove one or more stacks: their services, then secrets, configs and networks (never volumes,\nnor external objects). It returns once the networks are gone, so the stack can be deployed again at once.",
		Args:    cobra.MinimumNArgs(1),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		for _, ns := range args {
			if err := stack.ValidateNamespace(ns); err != nil {
				return err
			}
		}
		return e.deployer(api).Remove(ctx, args)
	})
	return cmd
}
