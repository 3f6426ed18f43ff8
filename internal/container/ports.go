package container

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Binding is a host port bound to a container port.
type Binding struct {
	Port     network.Port // the container's port and protocol
	HostIP   netip.Addr   // the zero Addr: every address of the node
	HostPort uint16
}

// PortRequest is a binding as asked: one host port (Lo == Hi), a range,
// or any free one (0, 0).
type PortRequest struct {
	Port   network.Port
	HostIP netip.Addr // the zero Addr: every address of the node
	Lo, Hi uint16
}

// PortRequests checks the port bindings of a container and returns them
// as requests, sorted; with PublishAllPorts, every exposed port without a
// binding gets one to any free port, as -P asks.
func PortRequests(host *containertypes.HostConfig, exposed network.PortSet) ([]PortRequest, error) {
	var out []PortRequest
	for p, bindings := range host.PortBindings {
		if err := checkPort(p); err != nil {
			return nil, err
		}
		if len(bindings) == 0 {
			bindings = []network.PortBinding{{}}
		}
		for _, b := range bindings {
			r, err := portRequest(p, b)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	if host.PublishAllPorts {
		for p := range exposed {
			if _, bound := host.PortBindings[p]; bound {
				continue
			}
			if err := checkPort(p); err != nil {
				return nil, err
			}
			out = append(out, PortRequest{Port: p})
		}
	}
	slices.SortFunc(out, func(a, b PortRequest) int {
		return cmp.Or(cmp.Compare(a.Port.Num(), b.Port.Num()), strings.Compare(string(a.Port.Proto()), string(b.Port.Proto())),
			a.HostIP.Compare(b.HostIP), cmp.Compare(a.Lo, b.Lo))
	})
	return out, nil
}

func checkPort(p network.Port) error {
	if !p.IsValid() || p.Num() == 0 {
		return errdefs.Invalid("invalid port specification: %q: a container port is a number from 1 to 65535", p.String())
	}
	switch p.Proto() {
	case network.TCP, network.UDP, network.SCTP:
		return nil
	}
	return errdefs.Invalid("invalid port specification: %q: the protocol must be tcp, udp or sctp", p.String())
}

func portRequest(p network.Port, b network.PortBinding) (PortRequest, error) {
	r := PortRequest{Port: p, HostIP: b.HostIP}
	if r.HostIP.IsValid() && r.HostIP.IsUnspecified() && r.HostIP.Is4() {
		r.HostIP = netip.Addr{}
	}
	if r.HostIP.IsValid() && !r.HostIP.Is4() {
		return PortRequest{}, errdefs.Invalid("invalid host IP %s for port %s: only IPv4 addresses can be bound", b.HostIP, p)
	}
	if b.HostPort == "" {
		return r, nil
	}
	lo, hi, isRange := strings.Cut(b.HostPort, "-")
	var err error
	if r.Lo, err = hostPort(lo); err != nil {
		return PortRequest{}, errdefs.Invalid("invalid host port %q for port %s: %v", b.HostPort, p, err)
	}
	r.Hi = r.Lo
	if isRange {
		if r.Hi, err = hostPort(hi); err != nil {
			return PortRequest{}, errdefs.Invalid("invalid host port %q for port %s: %v", b.HostPort, p, err)
		}
		if r.Hi < r.Lo {
			return PortRequest{}, errdefs.Invalid("invalid host port %q for port %s: the range ends before it starts", b.HostPort, p)
		}
	}
	return r, nil
}

func hostPort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// PortTaken reports whether a host port is bound already (by another
// container, the swarm, or a process of the node); hostIP is the zero
// Addr for every address.
type PortTaken func(proto network.IPProtocol, hostIP netip.Addr, port uint16) bool

// AllocatePorts gives each request a host port, as dockerd's port
// allocator does: the one asked when it is free, the first free one of a
// range, and for any port the first free one of the dynamic range
// [dynLo, dynHi]. Two bindings of one request set never share a port.
func AllocatePorts(reqs []PortRequest, taken PortTaken, dynLo, dynHi uint16) ([]Binding, error) {
	var out []Binding
	busy := func(proto network.IPProtocol, ip netip.Addr, port uint16) bool {
		if taken(proto, ip, port) {
			return true
		}
		return slices.ContainsFunc(out, func(b Binding) bool {
			return b.HostPort == port && b.Port.Proto() == proto && Overlap(b.HostIP, ip)
		})
	}
	for _, r := range reqs {
		lo, hi := r.Lo, r.Hi
		if lo == 0 {
			lo, hi = dynLo, dynHi
		}
		port, found := uint16(0), false
		for p := int(lo); p <= int(hi); p++ {
			if !busy(r.Port.Proto(), r.HostIP, uint16(p)) {
				port, found = uint16(p), true
				break
			}
		}
		if !found {
			ip := "0.0.0.0"
			if r.HostIP.IsValid() {
				ip = r.HostIP.String()
			}
			if lo == hi {
				return nil, errdefs.Conflict("Bind for %s:%d failed: port is already allocated", ip, lo)
			}
			return nil, errdefs.Conflict("Bind for %s:%d-%d failed: every port of the range is already allocated", ip, lo, hi)
		}
		out = append(out, Binding{Port: r.Port, HostIP: r.HostIP, HostPort: port})
	}
	return out, nil
}

// Overlap reports whether two host addresses of bindings collide: the
// zero Addr (every address) collides with all.
func Overlap(a, b netip.Addr) bool {
	return !a.IsValid() || !b.IsValid() || a == b
}

// PortMap is bindings as docker inspect shows them in
// NetworkSettings.Ports: every exposed port, bound or not.
func PortMap(bindings []Binding, exposed network.PortSet) network.PortMap {
	m := network.PortMap{}
	for p := range exposed {
		m[p] = nil
	}
	for _, b := range bindings {
		ip := b.HostIP
		if !ip.IsValid() {
			ip = netip.IPv4Unspecified()
		}
		m[b.Port] = append(m[b.Port], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(int(b.HostPort))})
	}
	return m
}
