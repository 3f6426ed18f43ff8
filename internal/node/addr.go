package node

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// defaultClusterPort is the cluster port when an address names none.
const defaultClusterPort = 2377

// resolveAddrs decides the listen and advertise addresses of swarm init
// and join from what the user gave, as dockerd does: a listen address of
// an interface name or IP with an optional port (default 0.0.0.0:2377),
// and an advertise address that defaults to the listen address, or, when
// that is a wildcard, to the only non-loopback address the node has.
func resolveAddrs(listen, advertise string, ifaces func() ([]netip.Addr, error)) (listenAddr, advertiseAddr string, err error) {
	if listen == "" {
		listen = fmt.Sprintf("0.0.0.0:%d", defaultClusterPort)
	}
	lhost, lport, err := splitHostPortDefault(listen, defaultClusterPort)
	if err != nil {
		return "", "", errdefs.Invalid("invalid listen address %q: %v", listen, err)
	}
	listenAddr = net.JoinHostPort(lhost, strconv.Itoa(lport))
	if advertise == "" {
		ip, perr := netip.ParseAddr(lhost)
		if perr == nil && !ip.IsUnspecified() {
			return listenAddr, listenAddr, nil
		}
		addrs, ierr := ifaces()
		if ierr != nil {
			return "", "", fmt.Errorf("list interface addresses: %w", ierr)
		}
		switch len(addrs) {
		case 0:
			return "", "", errdefs.Invalid("could not find an address to advertise: this node has no non-loopback IPv4 address; give one with --advertise-addr")
		case 1:
			return listenAddr, net.JoinHostPort(addrs[0].String(), strconv.Itoa(lport)), nil
		default:
			return "", "", errdefs.Invalid("could not choose an IP address to advertise since this system has multiple addresses (%v); give one with --advertise-addr", addrs)
		}
	}
	ahost, aport, err := splitHostPortDefault(advertise, lport)
	if err != nil {
		return "", "", errdefs.Invalid("invalid advertise address %q: %v", advertise, err)
	}
	if _, err := netip.ParseAddr(ahost); err != nil {
		ip, ierr := interfaceAddr(ahost)
		if ierr != nil {
			return "", "", errdefs.Invalid("invalid advertise address %q: not an IP address or the name of an interface with one", advertise)
		}
		ahost = ip.String()
	}
	return listenAddr, net.JoinHostPort(ahost, strconv.Itoa(aport)), nil
}

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func splitHostPortDefault(s string, defPort int) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole string is the host.
		host, port = s, strconv.Itoa(defPort)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		ip, ierr := interfaceAddr(host)
		if ierr != nil {
			return "", 0, fmt.Errorf("%q is not an IP address or the name of an interface with one", host)
		}
		host = ip.String()
	}
	return host, p, nil
}

// interfaceAddr returns the first IPv4 address of the named interface.
func interfaceAddr(name string) (netip.Addr, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address", name)
}

// hostAddrs lists the node's non-loopback IPv4 addresses, skipping
// Shoal's own bridge.
func hostAddrs(skip string) func() ([]netip.Addr, error) {
	return func() ([]netip.Addr, error) {
		ifcs, err := net.Interfaces()
		if err != nil {
			return nil, err
		}
		var out []netip.Addr
		for _, ifc := range ifcs {
			if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 || ifc.Name == skip {
				continue
			}
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
					out = append(out, p.Addr())
				}
			}
		}
		return out, nil
	}
}

// dataPathAddr resolves swarm init/join --data-path-addr: an IP address,
// or the name of an interface that has one. Empty means the advertised
// address carries overlay traffic too.
func dataPathAddr(addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		if !ip.Is4() || ip.IsUnspecified() {
			return "", errdefs.Invalid("invalid data path address %q: it must be an IPv4 address other nodes can reach", addr)
		}
		return ip.String(), nil
	}
	ip, err := interfaceAddr(addr)
	if err != nil {
		return "", errdefs.Invalid("invalid data path address %q: not an IP address or the name of an interface with one", addr)
	}
	return ip.String(), nil
}
