package ui

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/shoal-project/shoal/internal/apitls"
)

// NeedsToken says whether a listener on a must ask for a token. Every
// TCP address does, loopback too: a loopback port is open to every user
// of the host, while the API's socket is for root and its group.
func NeedsToken(a apitls.Addr) bool { return a.Network == "tcp" }

// Listen listens on a; a unix socket is for root and its group, as the
// API's.
func Listen(a apitls.Addr) (net.Listener, error) {
	if a.Network == "tcp" {
		return net.Listen("tcp", a.Address)
	}
	return apitls.ListenUnix(a.Address)
}

// URL is what a person opens: the listener's address with the token.
// An unspecified host (":8080", "0.0.0.0:8080") is shown as this host's
// loopback address, which reaches it.
func URL(ln net.Listener, scheme, token string) string {
	if ln.Addr().Network() == "unix" {
		return "unix://" + ln.Addr().String()
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/"}
	if token != "" {
		u.RawQuery = url.Values{"token": {token}}.Encode()
	}
	return u.String()
}

// Serve serves h on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		// Streams (events, logs) never end by themselves: close them.
		if srv.Shutdown(shut) != nil {
			srv.Close()
		}
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
