// Package cli is the shoal command-line client: what a person new to Shoal
// uses instead of (or beside) docker. It speaks the Docker Engine API to the
// daemon named by -H, DOCKER_HOST or the default socket, and prints what
// docker's CLI prints for the same swarm, node, service, image, secret,
// config and volume commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/shoal-project/shoal/internal/cli/converge"
	"github.com/shoal-project/shoal/internal/compose"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// DefaultHost is the daemon the CLI talks to when neither -H nor DOCKER_HOST
// says otherwise.
const DefaultHost = "unix:///run/shoal/shoal.sock"

// env is what commands run with: streams, the environment, time, and the
// API client built from the global flags on first use.
type env struct {
	in          io.Reader
	out, errOut io.Writer
	getenv      func(string) string
	lookupEnv   func(string) (string, bool)
	clock       converge.Clock
	// interrupt returns a channel that fires on Ctrl-C while a command waits
	// for a service to converge, and a func to stop listening.
	interrupt func() (<-chan struct{}, func())

	host     string
	tls      tlsFlags
	flags    *pflag.FlagSet // the global flags, to tell which were given
	logLevel string
	log      *slog.Logger
	api      *client.Client // nil until first use
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func osInterrupt() (<-chan struct{}, func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			close(ch)
		case <-done:
		}
	}()
	return ch, func() { signal.Stop(sig); close(done) }
}

// NewRootCommand returns the `shoal` command with every client command under
// it and daemonCmd (the `shoal daemon` command) mounted beside them.
func NewRootCommand(daemonCmd *cobra.Command) *cobra.Command {
	return newRoot(&env{
		in: os.Stdin, out: os.Stdout, errOut: os.Stderr,
		getenv: os.Getenv, lookupEnv: os.LookupEnv,
		clock: realClock{}, interrupt: osInterrupt,
	}, daemonCmd)
}

func newRoot(e *env, daemonCmd *cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:          "shoal",
		Short:        "Shoal: a container orchestrator that speaks the Docker API",
		Long:         "Shoal runs services across a swarm of nodes. `shoal daemon` runs a node;\nthe other commands talk to a daemon the way the docker CLI does.",
		SilenceUsage: true,
		Version:      clientVersion(),
		// Flags of a command given before its subcommand are its own, as
		// in the docker CLI: `shoal compose -p NAME up`.
		TraverseChildren: true,
	}
	root.SetIn(e.in)
	root.SetOut(e.out)
	root.SetErr(e.errOut)
	flags := root.PersistentFlags()
	flags.StringVarP(&e.host, "host", "H", "", "Daemon socket to connect to (default $DOCKER_HOST or "+DefaultHost+")")
	flags.StringVar(&e.logLevel, "log-level", "warn", `Set the client's logging level ("debug", "info", "warn", "error")`)
	e.tls.add(flags, e.getenv)
	e.flags = flags
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
			return fmt.Errorf("invalid --log-level %q: %w", e.logLevel, err)
		}
		e.log = slog.New(slog.NewTextHandler(e.errOut, &slog.HandlerOptions{Level: level}))
		return nil
	}
	root.AddCommand(
		newSwarmCommand(e),
		newNodeCommand(e),
		newServiceCommand(e),
		newImageCommand(e),
		newSecretCommand(e),
		newConfigCommand(e),
		newStackCommand(e),
		newVolumeCommand(e),
		newVersionCommand(e),
		newInfoCommand(e),
		newUICommand(e),
		newTLSCommand(e),
		compose.NewCommand(e.in, e.out, e.errOut, e.client),
	)
	// Usage lines name their options as docker's do ("[OPTIONS]").
	var noFlagsInUse func(*cobra.Command)
	noFlagsInUse = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			noFlagsInUse(sub)
		}
	}
	noFlagsInUse(root)
	if daemonCmd != nil {
		root.AddCommand(daemonCmd)
	}
	return root
}

// daemonHost is where the client connects: -H, then DOCKER_HOST, then the
// default socket.
func (e *env) daemonHost() string {
	if e.host != "" {
		return e.host
	}
	if h := e.getenv(client.EnvOverrideHost); h != "" {
		return h
	}
	return DefaultHost
}

// client returns the API client, built on first use. The TLS flags,
// DOCKER_CERT_PATH, DOCKER_TLS_VERIFY and DOCKER_API_VERSION are honoured
// as docker does.
func (e *env) client() (*client.Client, error) {
	if e.api != nil {
		return e.api, nil
	}
	log := e.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	httpClient, err := e.tls.httpClient(e.flags)
	if err != nil {
		return nil, err
	}
	c, err := client.New(
		client.WithHTTPClient(httpClient),
		client.WithAPIVersionFromEnv(),
		client.WithHost(e.daemonHost()),
		client.WithUserAgent("shoal-cli/"+clientVersion()),
		client.WithHTTPRequestHook(func(r *http.Request) error {
			log.Debug("request", "method", r.Method, "url", r.URL.String())
			return nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("daemon host %q: %w", e.daemonHost(), err)
	}
	e.api = c
	return c, nil
}

// run adapts a command body to cobra: it hands it the API client and turns
// the client's errors into messages for a person.
func (e *env) run(fn func(ctx context.Context, api *client.Client, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		api, err := e.client()
		if err != nil {
			return err
		}
		return e.explain(fn(cmd.Context(), api, cmd, args))
	}
}

func (e *env) explain(err error) error {
	switch {
	case err == nil:
		return nil
	case client.IsErrConnectionFailed(err) && isTLSError(err):
		return fmt.Errorf("TLS with the Shoal daemon at %s failed: %w; check the certificates (--tlscacert, --tlscert, --tlskey or DOCKER_CERT_PATH)", e.daemonHost(), errors.Unwrap(err))
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("cannot connect to the Shoal daemon at %s: is `shoal daemon` running?", e.daemonHost())
	}
	if msg, ok := strings.CutPrefix(err.Error(), "Error response from daemon: "); ok {
		return errors.New(msg)
	}
	return err
}

// outIsTerminal says whether standard output is a terminal, and its width.
func (e *env) outIsTerminal() (bool, int) {
	fd, isTerm := term.GetFdInfo(e.out)
	if !isTerm {
		return false, 0
	}
	ws, err := term.GetWinsize(fd)
	if err != nil {
		return true, 80
	}
	return true, int(ws.Width)
}

func clientVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.out, format, args...) }

func (e *env) println(args ...any) { fmt.Fprintln(e.out, args...) }
