package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/internal/apitls"
	"github.com/shoal-project/shoal/internal/ui"
)

// newUICommand is `shoal ui`: the web UI served on this machine for the
// daemon that -H or DOCKER_HOST names, its API reached as the CLI
// reaches it (unix socket, TCP, TLS from DOCKER_CERT_PATH).
func newUICommand(e *env) *cobra.Command {
	var addr string
	var open bool
	cmd := &cobra.Command{
		Use:   "ui [OPTIONS]",
		Short: "Serve the web UI for the daemon on this machine and print its URL",
		Args:  cobra.NoArgs,
		RunE: e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, _ []string) error {
			a, err := apitls.ParseAddr("--addr", addr)
			if err != nil {
				return err
			}
			if _, err := api.Ping(ctx, client.PingOptions{}); err != nil {
				return err
			}
			ln, err := ui.Listen(a)
			if err != nil {
				return err
			}
			var token string
			if ui.NeedsToken(a) {
				token = ui.NewToken()
			}
			link := ui.URL(ln, "http", token)
			fmt.Fprintf(e.out, "Shoal UI for %s at\n  %s\nCtrl-C stops it.\n", api.DaemonHost(), link)
			if open {
				if err := exec.Command("xdg-open", link).Start(); err != nil {
					fmt.Fprintf(e.errOut, "could not open a browser (%v): open the URL above\n", err)
				}
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return ui.Serve(ctx, ln, ui.New(ui.Config{API: daemonProxy(api), Token: token}), e.log)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:0", "address to serve the UI on (host:port; port 0 picks a free one)")
	f.BoolVar(&open, "open", false, "open the URL with xdg-open")
	return cmd
}

// daemonProxy passes requests on to the daemon over the client's own
// connection (its dialer knows unix sockets and TLS), streaming
// responses as they come (events, logs).
func daemonProxy(api *client.Client) http.Handler {
	dial := api.Dialer()
	target := &url.URL{Scheme: "http", Host: client.DummyHost}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = client.DummyHost
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		},
		FlushInterval: -1,
	}
}
