package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Addr is where to serve the UI, as --ui-addr gives it.
type Addr struct {
	Network string // "tcp" or "unix"
	Address string
}

// ParseAddr reads unix:///path, tcp://host:port or host:port.
func ParseAddr(s string) (Addr, error) {
	if rest, ok := strings.CutPrefix(s, "unix://"); ok {
		if !filepath.IsAbs(rest) {
			return Addr{}, fmt.Errorf("--ui-addr %q: a unix socket needs an absolute path", s)
		}
		return Addr{Network: "unix", Address: rest}, nil
	}
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "tcp" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return Addr{}, fmt.Errorf("--ui-addr %q: want host:port, tcp://host:port or unix:///path", s)
		}
		hostport = u.Host
	}
	if _, port, err := net.SplitHostPort(hostport); err != nil || port == "" {
		return Addr{}, fmt.Errorf("--ui-addr %q: want host:port, tcp://host:port or unix:///path", s)
	}
	return Addr{Network: "tcp", Address: hostport}, nil
}

// NeedsToken says whether a listener on a must ask for a token. Every
// TCP address does, loopback too: a loopback port is open to every user
// of the host, while the API's socket is for root and its group.
func (a Addr) NeedsToken() bool { return a.Network == "tcp" }

// Listen listens on a; a unix socket is for root and its group, as the
// API's.
func Listen(a Addr) (net.Listener, error) {
	if a.Network == "tcp" {
		return net.Listen("tcp", a.Address)
	}
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
