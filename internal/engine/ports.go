package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/container"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/lb"
)

// ports publishes plain containers' ports on the node, beside the swarm's
// (the dataplane's mesh table).
type ports interface {
	PublishPorts(ctx context.Context, containerID string, ports []lb.HostPort) error
	UnpublishPorts(ctx context.Context, containerID string) error
	PortTaken(proto string, hostIP netip.Addr, port uint16) bool
}

// Docker's dynamic port range, for bindings without a host port, when the
// kernel's ephemeral range cannot be read.
const (
	dynamicPortLo = 49153
	dynamicPortHi = 65535
)

// allocatePorts gives a container's port bindings their host ports. A
// port is taken when the node publishes it already, or a process of the
// node listens on it (a connection there would never reach the
// container). Only containers on the node bridge or a local network
// publish ports.
func (c *Containers) allocatePorts(ctr *container.Container) ([]container.Binding, error) {
	if mode := ctr.HostConfig.NetworkMode; !mode.IsBridge() && !(mode.IsUserDefined() && c.nets.has(string(mode))) {
		return nil, nil
	}
	reqs, err := container.PortRequests(&ctr.HostConfig, ctr.Config.ExposedPorts)
	if err != nil || len(reqs) == 0 {
		return nil, err
	}
	for _, r := range reqs {
		if r.HostIP.IsValid() && !localAddr(r.HostIP) {
			return nil, errdefs.Invalid("cannot bind port %s on %s: it is not an address of this node", r.Port, r.HostIP)
		}
	}
	taken := func(proto network.IPProtocol, ip netip.Addr, port uint16) bool {
		return c.ports.PortTaken(string(proto), ip, port) || listening(proto, ip, port)
	}
	lo, hi := dynamicRange()
	return container.AllocatePorts(reqs, taken, lo, hi)
}

// publish publishes a running container's bindings to its address on the
// network that holds its default route (gatewayAddr), as dockerd 20.10.
func (c *Containers) publish(ctx context.Context, id string, bindings []container.Binding) error {
	if len(bindings) == 0 {
		return nil
	}
	addr, ok := c.gatewayAddr(id)
	if !ok {
		return fmt.Errorf("container %s is on no network to publish ports to", id)
	}
	hp := make([]lb.HostPort, len(bindings))
	for i, b := range bindings {
		hp[i] = lb.HostPort{
			Protocol: string(b.Port.Proto()), Port: b.HostPort, HostIP: b.HostIP,
			Target: netip.AddrPortFrom(addr, b.Port.Num()),
		}
	}
	return c.ports.PublishPorts(ctx, id, hp)
}

// listening reports whether a process of the node holds proto/port on ip
// (every address when ip is the zero Addr), by trying to bind it.
func listening(proto network.IPProtocol, ip netip.Addr, port uint16) bool {
	host := "0.0.0.0"
	if ip.IsValid() {
		host = ip.String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var err error
	switch proto {
	case network.TCP:
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			l.Close()
		}
	case network.UDP:
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp4", addr); err == nil {
			pc.Close()
		}
	}
	return errors.Is(err, syscall.EADDRINUSE)
}

// localAddr reports whether ip is an address of one of the node's
// interfaces.
func localAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == ip {
			return true
		}
	}
	return false
}

// dynamicRange is the kernel's ephemeral port range, as dockerd uses it
// for bindings without a host port.
func dynamicRange() (uint16, uint16) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return dynamicPortLo, dynamicPortHi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return dynamicPortLo, dynamicPortHi
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || lo == 0 || hi < lo {
		return dynamicPortLo, dynamicPortHi
	}
	return uint16(lo), uint16(hi)
}
