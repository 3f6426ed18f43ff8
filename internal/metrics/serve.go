package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-project/shoal/internal/apitls"
)

// Handler serves the registry in Prometheus' text (or protobuf) format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}

// TCPListeners open the daemon's TCP listeners under its TLS flags
// (apitls.Listeners): TLS with --tls/--tlsverify, plain TCP only under
// --insecure-tcp, refused otherwise.
type TCPListeners interface {
	Listen(addr, what string) (net.Listener, error)
}

// What names the metrics endpoint in the TLS rule's messages.
const What = "Prometheus metrics"

// Listen listens on a, by the API's trust rule: a unix socket (mode
// 0660, as the API's) or a loopback address is for this host's users and
// served plain; any other address is reachable from the network and is
// opened through tcp, so that it gets the API's TLS and client
// certificates, or is refused.
func Listen(a apitls.Addr, tcp TCPListeners) (net.Listener, error) {
	switch {
	case a.Network == "unix":
		return apitls.ListenUnix(a.Address)
	case a.Open():
		return tcp.Listen(a.Address, What)
	}
	return net.Listen("tcp", a.Address)
}

// Serve serves /metrics on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
