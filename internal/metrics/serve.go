package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Handler serves the registry in Prometheus' text (or protobuf) format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}

// Addr is where to serve the metrics, as --metrics-addr gives it.
type Addr struct {
	Network string // "tcp" or "unix"
	Address string
	// Open is true for a TCP address other than loopback: anyone who can
	// reach it reads the metrics.
	Open bool
}

// ParseAddr reads --metrics-addr: unix:///path, tcp://host:port or
// host:port. A host left out (":9323") is every address, so it is open.
func ParseAddr(s string) (Addr, error) {
	if rest, ok := strings.CutPrefix(s, "unix://"); ok {
		if !filepath.IsAbs(rest) {
			return Addr{}, errdefs.Invalid("--metrics-addr %q: a unix socket needs an absolute path", s)
		}
		return Addr{Network: "unix", Address: rest}, nil
	}
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "tcp" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return Addr{}, errdefs.Invalid("--metrics-addr %q: want unix:///path, tcp://host:port or host:port", s)
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "" {
		return Addr{}, errdefs.Invalid("--metrics-addr %q: want unix:///path, tcp://host:port or host:port", s)
	}
	return Addr{Network: "tcp", Address: hostport, Open: !loopback(host)}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
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
func Listen(a Addr, tcp TCPListeners) (net.Listener, error) {
	switch {
	case a.Network == "unix":
		if err := os.MkdirAll(filepath.Dir(a.Address), 0o755); err != nil {
			return nil, err
		}
		if err := os.Remove(a.Address); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		ln, err := net.Listen("unix", a.Address)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(a.Address, 0o660); err != nil {
			ln.Close()
			return nil, err
		}
		return ln, nil
	case a.Open:
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
