package daemon

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/shoal-project/shoal/internal/ui"
)

// serveUI serves the web UI on --ui-addr over api, the daemon's own
// Engine API handler, until ctx ends. On TCP it asks for a token made
// now and logged with the URL to open.
func serveUI(ctx context.Context, addr ui.Addr, api http.Handler, log *slog.Logger) error {
	ln, err := ui.Listen(addr)
	if err != nil {
		return err
	}
	var token string
	if addr.NeedsToken() {
		token = ui.NewToken()
	}
	log.Info("web UI: open "+ui.URL(ln, "http", token), "addr", ln.Addr().String())
	go func() {
		if err := ui.Serve(ctx, ln, ui.New(ui.Config{API: api, Token: token}), log); err != nil {
			log.Error("web UI", "err", err)
		}
	}()
	return nil
}
