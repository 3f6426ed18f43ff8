package lb

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const (
	vipTable  = "shoal-lb"
	meshTable = "shoal-mesh"

	// noBackend rejects at once what was addressed to a VIP or port that
	// has no backend, rather than leaving the client to time out.
	noBackend = "no-backend"
	// hairpin marks connections that came from a bridge this node's tasks
	// are on, before they are sent to a backend: see hairpinMark.
	hairpin = "hairpin"
	// hairpinMark is the packet mark bit (chosen clear of Kubernetes'
	// 0x4000 and 0x8000) that asks postrouting to masquerade a connection
	// whose client sits on a task's own bridge: a backend there would
	// answer the client directly, around the DNAT, and the client would
	// drop the answer.
	hairpinMark = 0x00002000
)

// loopback is 127.0.0.0/8: sources that cannot leave the node as they are.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// buildVIPs is the shoal-lb table for vips: locally originated connections
// to a VIP (nat output) go to the chain of that VIP, which sends them to one
// backend at random, port kept; a VIP without backends rejects them.
// Conntrack keeps each established connection on its backend, whatever
// the table becomes.
func buildVIPs(vips []VIP) (*table, error) {
	vips = slices.Clone(vips)
	slices.SortFunc(vips, func(a, b VIP) int { return a.Addr.Compare(b.Addr) })
	seen := map[netip.Addr]bool{}
	for i, v := range vips {
		if !v.Addr.Is4() {
			return nil, errdefs.Invalid("vips: address %q is not an IPv4 address", v.Addr)
		}
		if seen[v.Addr] {
			return nil, errdefs.Invalid("vips: %s is listed twice", v.Addr)
		}
		seen[v.Addr] = true
		if err := checkAddrs(fmt.Sprintf("vips: %s: backends", v.Addr), v.Backends); err != nil {
			return nil, err
		}
		vips[i].Backends = sortedAddrs(v.Backends)
	}

	vmap := set{name: "vips", key: addrKey, verdicts: true}
	chains := []chain{{name: "output", hook: &natOutput, rules: []rule{{ctStateNew{}, addrVmap{daddr, "vips"}}}}}
	for _, v := range vips {
		if len(v.Backends) == 0 {
			vmap.elems = append(vmap.elems, elem{addr(v.Addr), ptr(goTo(noBackend))})
			continue
		}
		name := "vip-" + v.Addr.String()
		vmap.elems = append(vmap.elems, elem{addr(v.Addr), ptr(goTo(name))})
		chains = append(chains, chain{name: name, rules: []rule{{dnat{to: v.Backends}}}})
	}
	chains = append(chains, rejectChain())
	return &table{name: vipTable, sets: []set{vmap}, chains: chains}, nil
}

// buildMesh is the shoal-mesh table for m:
//   - a packet to any local address (prerouting for what arrives, output for
//     the node's own processes) on a published or host port goes to that
//     port's chain, which sends it to a backend at random;
//   - postrouting masquerades, to NodeAddr, connections sent to remote
//     backends, so that replies come back through this node; connections
//     from 127.0.0.0/8, which cannot leave the node as they are; and those
//     marked as hairpin. Every other connection keeps its source address;
//   - forward accepts DNATed connections, input drops packets from outside
//     to 127.0.0.0/8 that route_localnet would otherwise let in.
func buildMesh(m Mesh) (*table, error) {
	if err := checkMesh(m); err != nil {
		return nil, err
	}
	ports := set{name: "ports", key: protoPortKey, verdicts: true}
	remote := set{name: "remote-backends", key: addrKey}
	var portChains []chain
	var hairpinRule []rule
	if len(m.Ports)+len(m.HostPorts) > 0 {
		hairpinRule = []rule{{jump(hairpin)}}
	}

	published := slices.Clone(m.Ports)
	slices.SortFunc(published, func(a, b PublishedPort) int { return comparePorts(a.Protocol, a.Port, b.Protocol, b.Port) })
	remoteAddrs := map[netip.Addr]bool{}
	for _, p := range published {
		var to []netip.Addr
		for _, b := range p.Backends {
			switch {
			case b.Local:
				to = append(to, b.Addr)
			case !p.LocalOnly && m.NodeAddr.IsValid():
				to = append(to, b.Addr)
				remoteAddrs[b.Addr] = true
			}
		}
		key := protoPort{p.Protocol, p.Port}
		if len(to) == 0 {
			ports.elems = append(ports.elems, elem{key, ptr(goTo(noBackend))})
			continue
		}
		name := fmt.Sprintf("port-%s-%d", p.Protocol, p.Port)
		ports.elems = append(ports.elems, elem{key, ptr(goTo(name))})
		portChains = append(portChains, chain{name: name, rules: append(slices.Clone(hairpinRule),
			rule{matchProto{p.Protocol}, dnat{to: sortedAddrs(to), port: p.TargetPort}})})
	}

	// The host ports of one protocol and number share a chain: a rule per
	// address they answer on, those of every address last.
	hostPorts := slices.Clone(m.HostPorts)
	slices.SortFunc(hostPorts, func(a, b HostPort) int {
		if c := comparePorts(a.Protocol, a.Port, b.Protocol, b.Port); c != 0 {
			return c
		}
		if a.HostIP.IsValid() != b.HostIP.IsValid() {
			return cmp.Compare(boolInt(!a.HostIP.IsValid()), boolInt(!b.HostIP.IsValid()))
		}
		return a.HostIP.Compare(b.HostIP)
	})
	for i, h := range hostPorts {
		name := fmt.Sprintf("host-%s-%d", h.Protocol, h.Port)
		r := rule{matchProto{h.Protocol}, dnat{to: []netip.Addr{h.Target.Addr()}, port: h.Target.Port()}}
		if h.HostIP.IsValid() {
			r = append(rule{matchAddr{daddr, netip.PrefixFrom(h.HostIP, 32)}}, r...)
		}
		if i > 0 && hostPorts[i-1].Protocol == h.Protocol && hostPorts[i-1].Port == h.Port {
			last := &portChains[len(portChains)-1]
			last.rules = append(last.rules, r)
			continue
		}
		ports.elems = append(ports.elems, elem{protoPort{h.Protocol, h.Port}, ptr(goTo(name))})
		portChains = append(portChains, chain{name: name, rules: append(slices.Clone(hairpinRule), r)})
	}
	slices.SortFunc(ports.elems, func(a, b elem) int {
		pa, pb := a.key.(protoPort), b.key.(protoPort)
		return comparePorts(pa.proto, pa.port, pb.proto, pb.port)
	})
	for _, a := range sortedAddrs(mapKeys(remoteAddrs)) {
		remote.elems = append(remote.elems, elem{key: addr(a)})
	}

	toPorts := rule{ctStateNew{}, localDaddr{}, protoPortVmap{"ports"}}
	chains := []chain{
		{name: "prerouting", hook: &natPrerouting, rules: []rule{toPorts}},
		{name: "output", hook: &natOutput, rules: []rule{toPorts}},
	}
	chains = append(chains, portChains...)
	var marks []rule
	for _, bridge := range hairpinBridges(m) {
		marks = append(marks, rule{matchIifname{name: bridge}, setMarkBit{hairpinMark}})
	}
	chains = append(chains, chain{name: hairpin, rules: marks}, rejectChain())

	var post []rule
	if m.NodeAddr.IsValid() {
		post = append(post, rule{ctStatusDNAT{}, matchAddrSet{daddr, remote.name}, snat{m.NodeAddr}})
	}
	post = append(post,
		rule{ctStatusDNAT{}, matchAddr{saddr, loopback}, masquerade{}},
		rule{matchMarkBit{hairpinMark}, masquerade{}},
	)
	chains = append(chains,
		chain{name: "postrouting", hook: &natPostrouting, rules: post},
		// An accept here does not overrule a drop in another table's
		// forward chain (every base chain sees the packet); it lets DNATed
		// connections through chains of ours with a drop policy, and
		// states which forwarded traffic the mesh makes.
		chain{name: "forward", hook: &filterForward, rules: []rule{{ctStatusDNAT{}, accept}}},
		chain{name: "input", hook: &filterInput, rules: []rule{
			{matchIifname{name: "lo", not: true}, matchAddr{daddr, loopback}, ctNotEstablished{}, drop},
		}},
	)
	return &table{name: meshTable, sets: []set{ports, remote}, chains: chains}, nil
}

// rejectChain answers what has no backend: a TCP reset, or ICMP port
// unreachable.
func rejectChain() chain {
	return chain{name: noBackend, rules: []rule{{reject{tcpReset: true}}, {reject{}}}}
}

// hairpinBridges are the bridges where a client may sit on a backend's own
// link: the ingress bridge and the node bridge.
func hairpinBridges(m Mesh) []string {
	var b []string
	for _, name := range []string{m.IngressBridge, m.NodeBridge} {
		if name != "" {
			b = append(b, name)
		}
	}
	return b
}

// sysctl is one value to write under /proc/sys.
type sysctl struct {
	path  string // relative to /proc/sys
	value string
}

// meshSysctls are the sysctls the mesh needs in the node's namespace:
//   - forwarding, for connections to backends behind the node's bridges;
//   - route_localnet on both bridges: a connection to 127.0.0.1:PORT leaves
//     by one of them after DNAT (then is masqueraded), and its replies come
//     back through it to 127.0.0.1. The table's input chain drops packets
//     from outside addressed to 127.0.0.0/8, which this would let in;
//   - rp_filter loose (2) on the node bridge: a local backend's reply comes
//     in there, from its ingress address, which the node routes through the
//     ingress bridge — strict mode would drop it.
func meshSysctls(m Mesh) []sysctl {
	s := []sysctl{{"net/ipv4/ip_forward", "1"}}
	if m.IngressBridge != "" {
		s = append(s, sysctl{confPath(m.IngressBridge, "route_localnet"), "1"})
	}
	if m.NodeBridge != "" {
		s = append(s,
			sysctl{confPath(m.NodeBridge, "route_localnet"), "1"},
			sysctl{confPath(m.NodeBridge, "rp_filter"), "2"},
		)
	}
	return s
}

// routeLocalnetOff undoes meshSysctls' route_localnet, for RemoveMesh.
func routeLocalnetOff(m Mesh) []sysctl {
	var s []sysctl
	for _, b := range hairpinBridges(m) {
		s = append(s, sysctl{confPath(b, "route_localnet"), "0"})
	}
	return s
}

func confPath(ifname, key string) string { return "net/ipv4/conf/" + ifname + "/" + key }

func checkMesh(m Mesh) error {
	if err := validIfnames(m); err != nil {
		return err
	}
	if len(m.Ports) > 0 && m.IngressBridge == "" {
		return errdefs.Invalid("mesh: ingress bridge: required when ports are published")
	}
	if m.NodeAddr.IsValid() && !m.NodeAddr.Is4() {
		return errdefs.Invalid("mesh: node address %s is not an IPv4 address", m.NodeAddr)
	}
	taken := map[protoPort]string{}
	take := func(field, proto string, port uint16) error {
		if _, ok := protoNumbers[proto]; !ok {
			return errdefs.Invalid("mesh: %s: protocol %q is not tcp, udp or sctp", field, proto)
		}
		if port == 0 {
			return errdefs.Invalid("mesh: %s: port 0 cannot be published", field)
		}
		key := protoPort{proto, port}
		if other, ok := taken[key]; ok {
			return errdefs.Invalid("mesh: %s: %d/%s is already published by %s", field, port, proto, other)
		}
		taken[key] = field
		return nil
	}
	local := map[netip.Addr]bool{} // whether each backend address is local
	for _, p := range m.Ports {
		field := fmt.Sprintf("port %d/%s", p.Port, p.Protocol)
		if err := take(field, p.Protocol, p.Port); err != nil {
			return err
		}
		if p.TargetPort == 0 {
			return errdefs.Invalid("mesh: %s: target port 0 is not a port", field)
		}
		addrs := make([]netip.Addr, len(p.Backends))
		for i, b := range p.Backends {
			addrs[i] = b.Addr
		}
		if err := checkAddrs("mesh: "+field+": backends", addrs); err != nil {
			return err
		}
		for _, b := range p.Backends {
			if l, ok := local[b.Addr]; ok && l != b.Local {
				return errdefs.Invalid("mesh: %s: backend %s is local for one port and remote for another", field, b.Addr)
			}
			local[b.Addr] = b.Local
		}
	}
	hostIPs := map[protoPort][]netip.Addr{} // the addresses each host port answers on
	for _, h := range m.HostPorts {
		field := fmt.Sprintf("host port %d/%s", h.Port, h.Protocol)
		if h.HostIP.IsValid() {
			field = fmt.Sprintf("host port %s:%d/%s", h.HostIP, h.Port, h.Protocol)
		}
		key := protoPort{h.Protocol, h.Port}
		if ips, ok := hostIPs[key]; !ok {
			if err := take(field, h.Protocol, h.Port); err != nil {
				return err
			}
		} else if slices.ContainsFunc(ips, func(ip netip.Addr) bool { return !ip.IsValid() || !h.HostIP.IsValid() || ip == h.HostIP }) {
			return errdefs.Invalid("mesh: %s: %d/%s is already published on that address", field, h.Port, h.Protocol)
		}
		hostIPs[key] = append(hostIPs[key], h.HostIP)
		if h.HostIP.IsValid() && !h.HostIP.Is4() {
			return errdefs.Invalid("mesh: %s: host address %q is not an IPv4 address", field, h.HostIP)
		}
		if !h.Target.Addr().Is4() || h.Target.Port() == 0 {
			return errdefs.Invalid("mesh: %s: target %q is not an IPv4 address and port", field, h.Target)
		}
	}
	return nil
}

// validIfnames checks the bridge names as the kernel would, so that they
// are safe in /proc/sys paths.
func validIfnames(m Mesh) error {
	for _, f := range []struct{ field, name string }{{"ingress bridge", m.IngressBridge}, {"node bridge", m.NodeBridge}} {
		field, name := f.field, f.name
		if name == "" {
			continue
		}
		if len(name) >= unix.IFNAMSIZ || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\x00") {
			return errdefs.Invalid("mesh: %s: %q is not an interface name (at most %d characters, no '/', ':' or spaces)",
				field, name, unix.IFNAMSIZ-1)
		}
	}
	return nil
}

// checkAddrs checks that addrs are distinct IPv4 addresses.
func checkAddrs(field string, addrs []netip.Addr) error {
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if !a.Is4() {
			return errdefs.Invalid("%s: %q is not an IPv4 address", field, a)
		}
		if seen[a] {
			return errdefs.Invalid("%s: %s is listed twice", field, a)
		}
		seen[a] = true
	}
	return nil
}

func comparePorts(protoA string, portA uint16, protoB string, portB uint16) int {
	if c := strings.Compare(protoA, protoB); c != 0 {
		return c
	}
	return int(portA) - int(portB)
}

func mapKeys[K comparable, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func ptr[T any](v T) *T { return &v }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
