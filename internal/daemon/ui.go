package daemon

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"

	"github.com/shoal-project/shoal/internal/apitls"
	"github.com/shoal-project/shoal/internal/ui"
)

// serveUI serves the web UI on --ui-addr over api, the daemon's own
// Engine API handler, until ctx ends. On TCP it follows the API's TLS
// flags: with --tls or --tlsverify the UI is served over TLS too, and a
// client certificate (--tlsverify) is trust enough; otherwise it asks
// for a token made now and logged with the URL to open.
func serveUI(ctx context.Context, addr apitls.Addr, api http.Handler, tlsOpts apitls.Options, log *slog.Logger) error {
	ln, err := ui.Listen(addr)
	if err != nil {
		return err
	}
	scheme, token := "http", ""
	if ui.NeedsToken(addr) {
		cfg, err := apitls.ServerConfig(tlsOpts)
		if err != nil {
			ln.Close()
			return err
		}
		if cfg != nil {
			ln, scheme = tls.NewListener(ln, cfg), "https"
		}
		if !tlsOpts.Verify {
			token = ui.NewToken()
		}
	}
	log.Info("web UI: open "+ui.URL(ln, scheme, token), "addr", ln.Addr().String())
	go func() {
		if err := ui.Serve(ctx, ln, ui.New(ui.Config{API: api, Token: token}), log); err != nil {
			log.Error("web UI", "err", err)
		}
	}()
	return nil
}
