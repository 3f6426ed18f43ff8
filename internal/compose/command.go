// Package compose is `shoal compose`: Docker Compose itself (the Compose
// SDK, github.com/docker/compose/v5, as a library) driving a Shoal daemon
// through its Docker Engine API, exactly as `docker compose` drives dockerd.
// Nothing of Compose is re-implemented here: project loading, the plan of
// what to create or recreate (config-hash labels), container names,
// com.docker.compose.* labels, depends_on conditions and --wait are
// Compose's own, so what works against dockerd works against Shoal and what
// breaks is a gap in Shoal's Engine API.
package compose

import (
	"fmt"
	"io"
	"os"

	"github.com/docker/cli/cli/command"
	cliflags "github.com/docker/cli/cli/flags"
	commands "github.com/docker/compose/v5/cmd/compose"
	"github.com/docker/compose/v5/cmd/prompt"
	composesdk "github.com/docker/compose/v5/pkg/compose"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// NewCommand returns `compose` with Docker Compose's commands under it,
// reading and writing the given streams. api is called once the command
// line is parsed and gives the client of the daemon the global flags (-H,
// DOCKER_HOST, TLS) name: Compose talks to that daemon and to no docker
// context.
func NewCommand(in io.Reader, out, errOut io.Writer, api func() (*client.Client, error)) *cobra.Command {
	// stdin stays the file it is, so that Compose sees a terminal (exec,
	// run -it) when it is one.
	inRC, ok := in.(io.ReadCloser)
	if !ok {
		inRC = io.NopCloser(in)
	}
	dockerCli, cliErr := command.NewDockerCli(command.WithInputStream(inRC), command.WithOutputStream(out), command.WithErrorStream(errOut))
	backend := &commands.BackendOptions{}
	cmd := commands.RootCommand(dockerCli, backend)
	cmd.Use = "compose"
	cmd.Short = "Define and run multi-container applications (Docker Compose)"
	composePreRun := cmd.PersistentPreRunE
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		if cliErr != nil {
			return cliErr
		}
		// Compose's own pre-run runs shoal's (the log level) first.
		if err := composePreRun(c, args); err != nil {
			return err
		}
		apiClient, err := api()
		if err != nil {
			return err
		}
		if err := dockerCli.Initialize(cliflags.NewClientOptions(), command.WithAPIClient(apiClient)); err != nil {
			return err
		}
		useClassicBuilder(dockerCli)
		backend.Add(composesdk.WithPrompt(prompt.NewPrompt(dockerCli.In(), dockerCli.Out()).Confirm))
		return nil
	}
	answerPanics(cmd)
	return cmd
}

// answerPanics makes a panic under c or its subcommands an error: the
// compose-go loader Compose v5 reads files with (v2.16.2) panics on a
// secret or config whose target is left empty (`target:`), a slip a
// user should be told about, not shown a goroutine dump for.
func answerPanics(c *cobra.Command) {
	for _, sub := range c.Commands() {
		answerPanics(sub)
	}
	run := c.RunE
	if run == nil {
		return
	}
	c.RunE = func(cmd *cobra.Command, args []string) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("compose %s failed reading the project (%v); look for a key left empty in the Compose file, such as a secret's or config's target", cmd.Name(), r)
			}
		}()
		return run(cmd, args)
	}
}

// useClassicBuilder makes Compose build with the Engine API's POST /build
// (the classic builder) when the daemon says it has no BuildKit, as
// Shoal's /_ping does (Builder-Version: 1), and DOCKER_BUILDKIT does not
// say otherwise. Compose would otherwise build through the buildx plugin
// when one is installed, which needs BuildKit's /session and /grpc.
func useClassicBuilder(dockerCli *command.DockerCli) {
	if os.Getenv("DOCKER_BUILDKIT") != "" || dockerCli.ServerInfo().BuildkitVersion == build.BuilderBuildKit {
		return
	}
	os.Setenv("DOCKER_BUILDKIT", "0")
}
