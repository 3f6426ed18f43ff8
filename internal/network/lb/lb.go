// Package lb load-balances connections to swarm services with nftables, in
// place of the IPVS this kernel lacks: a service's virtual IP in each task's
// namespace (table ip shoal-lb) and the routing mesh and host-mode ports in
// the node's namespace (table ip shoal-mesh). Each Apply replaces its whole
// table in one transaction. Builders turn the inputs into a table value that
// is both loaded into the kernel and printed as nft text for the golden
// files; docs/NETWORKING.md ("Load balancing") says what the rules do and why.
package lb

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
)

// VIP is a service's virtual IP and the addresses of its running tasks on
// the VIP's network.
type VIP struct {
	Addr     netip.Addr
	Backends []netip.Addr
}

// Mesh is what the node's namespace needs for the ingress routing mesh and
// for host-mode published ports.
type Mesh struct {
	// IngressBridge is the ingress network's bridge on this node: remote
	// backends are reached through it. Required when there are Ports.
	IngressBridge string
	// NodeBridge is the bridge that holds the default route of this node's
	// tasks (the node bridge, as Docker's docker_gwbridge). A local backend
	// reached at its ingress address replies through it, not the way the
	// request went, so rp_filter is set loose on it. Optional; without it,
	// such replies depend on the host's rp_filter, host ports do not answer
	// on 127.0.0.1, and tasks connecting through it to a published port of
	// their own node are not masqueraded.
	NodeBridge string
	// NodeAddr is this node's own address on the ingress network: the
	// source of connections handed to remote backends, so that their
	// replies come back to this node. Without it, remote backends are left
	// out.
	NodeAddr  netip.Addr
	Ports     []PublishedPort
	HostPorts []HostPort
}

// PublishedPort is a port published in ingress mode: it answers on every
// address of the node and goes to one of the backends, at random.
type PublishedPort struct {
	Protocol   string // tcp, udp or sctp
	Port       uint16 // the published port
	TargetPort uint16 // the port in the task
	Backends   []Backend
	// LocalOnly routes only to local backends, so that the client's
	// address is always kept (com.shoal.ingress.local=true).
	LocalOnly bool
}

// Backend is one task a published port can go to.
type Backend struct {
	// Addr is where its connections go: a remote backend's address on the
	// ingress network; a local backend's address on the node bridge, best,
	// so that its reply leaves the task by the interface the request came
	// in by, whatever source address the task's server picks. A local
	// backend's ingress address works for TCP, and for UDP servers that
	// answer from the address they were asked at, but a UDP server bound
	// to 0.0.0.0 answers it from its node bridge address, which conntrack
	// does not match: the reply is lost.
	Addr netip.Addr
	// Local backends run on this node: their connections keep the
	// client's source address.
	Local bool
}

// HostPort is a port published in host mode by a task on this node, or
// by a plain container (docker run -p).
type HostPort struct {
	Protocol string // tcp, udp or sctp
	Port     uint16
	// HostIP is the one address of the node the port answers on; the
	// zero Addr for every address. Ports of one protocol and number may
	// be published on different addresses.
	HostIP netip.Addr `json:",omitzero"`
	// Target is the task's address on the node bridge and its port.
	Target netip.AddrPort
}

// ApplyVIPs makes the network namespace at nsPath ("" is this process's
// own) send connections to each VIP to one of its backends, replacing
// whatever VIPs were there before. Established connections are kept.
func ApplyVIPs(ctx context.Context, nsPath string, vips []VIP) error {
	t, err := buildVIPs(vips)
	if err != nil {
		return err
	}
	return replaceTable(ctx, nsPath, t)
}

// RemoveVIPs removes the VIPs of the namespace at nsPath, if it has any.
func RemoveVIPs(ctx context.Context, nsPath string) error {
	return deleteTable(ctx, nsPath, vipTable)
}

// ApplyMesh programs the routing mesh and host-mode ports into the node's
// network namespace at nsPath ("" is this process's own), replacing what
// was there before, and sets the sysctls the scheme needs (see
// meshSysctls). Established connections are kept.
func ApplyMesh(ctx context.Context, nsPath string, m Mesh) error {
	t, err := buildMesh(m)
	if err != nil {
		return err
	}
	if err := replaceTable(ctx, nsPath, t); err != nil {
		return err
	}
	// After the table: route_localnet is safe only once the table's guard
	// against outside packets to 127.0.0.0/8 is in place.
	return inNamespace(nsPath, func() error { return writeSysctls(meshSysctls(m)) })
}

// RemoveMesh removes the routing mesh from the namespace at nsPath. m is
// the mesh last applied: route_localnet is turned off again on its bridges
// (those still there) before the table, and its guard, go. rp_filter and
// forwarding are left as they are.
func RemoveMesh(ctx context.Context, nsPath string, m Mesh) error {
	if err := validIfnames(m); err != nil {
		return err
	}
	if err := inNamespace(nsPath, func() error { return writeSysctls(routeLocalnetOff(m)) }); err != nil {
		return err
	}
	return deleteTable(ctx, nsPath, meshTable)
}

// replaceTable loads t into the namespace at nsPath in one transaction.
func replaceTable(ctx context.Context, nsPath string, t *table) error {
	return withConn(ctx, nsPath, func(c *nftables.Conn) error {
		if err := t.load(c); err != nil {
			return fmt.Errorf("build nftables table %s: %w", t.name, err)
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("replace nftables table ip %s in %s: %w", t.name, nsName(nsPath), err)
		}
		return nil
	})
}

// deleteTable removes the table, if it exists, from the namespace at nsPath.
func deleteTable(ctx context.Context, nsPath, name string) error {
	return withConn(ctx, nsPath, func(c *nftables.Conn) error {
		t := &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}
		// Adding first makes the deletion succeed when there is none.
		c.AddTable(t)
		c.DelTable(t)
		if err := c.Flush(); err != nil {
			return fmt.Errorf("delete nftables table ip %s in %s: %w", name, nsName(nsPath), err)
		}
		return nil
	})
}

// withConn runs f with an nftables connection to the namespace at nsPath.
func withConn(ctx context.Context, nsPath string, f func(*nftables.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var opts []nftables.ConnOption
	if nsPath != "" {
		ns, err := os.Open(nsPath)
		if err != nil {
			return fmt.Errorf("open network namespace: %w", err)
		}
		defer ns.Close()
		opts = append(opts, nftables.WithNetNSFd(int(ns.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return f(c)
}

func nsName(nsPath string) string {
	if nsPath == "" {
		return "this namespace"
	}
	return nsPath
}
