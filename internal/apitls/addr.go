package apitls

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Addr is where a daemon listener other than the API serves (the web UI,
// the metrics), as its flag gives it.
type Addr struct {
	Network string // "tcp" or "unix"
	Address string
}

// ParseAddr reads a listener flag's value: unix:///path, tcp://host:port
// or host:port. flag names the flag in errors.
func ParseAddr(flag, s string) (Addr, error) {
	if rest, ok := strings.CutPrefix(s, "unix://"); ok {
		if !filepath.IsAbs(rest) {
			return Addr{}, fmt.Errorf("%s %q: a unix socket needs an absolute path", flag, s)
		}
		return Addr{Network: "unix", Address: rest}, nil
	}
	bad := fmt.Errorf("%s %q: want unix:///path, tcp://host:port or host:port", flag, s)
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "tcp" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return Addr{}, bad
		}
		hostport = u.Host
	}
	if _, port, err := net.SplitHostPort(hostport); err != nil || port == "" {
		return Addr{}, bad
	}
	return Addr{Network: "tcp", Address: hostport}, nil
}

// Open says whether anyone on the network can reach a: a TCP address
// other than loopback (a host left out, ":9323", is every address).
func (a Addr) Open() bool {
	if a.Network != "tcp" {
		return false
	}
	host, _, _ := net.SplitHostPort(a.Address)
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// ListenUnix listens on a unix socket for root and its group (mode 0660,
// as dockerd's), replacing a socket left by a daemon that was killed,
// which would refuse the bind.
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
