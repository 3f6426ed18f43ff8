// Package sysinfo finds out what this host offers containers — the cgroup
// version and controllers, IPv4 forwarding, bridge netfilter, the
// filesystem under the image storage — and the warnings `docker info`
// gives for what is missing, by dockerd's rules. Everything but the
// storage checks reads /proc and /sys through an fs.FS rooted at /, so
// tests hand it fake trees.
package sysinfo

import (
	"io/fs"
	"strings"
)

// Host is what the host offers containers.
type Host struct {
	Cgroups    Cgroups
	Networking Networking
}

// Networking is the state of the kernel's forwarding switches in the
// reader's network namespace.
type Networking struct {
	IPv4Forwarding    bool // net.ipv4.ip_forward
	BridgeNfIptables  bool // net.bridge.bridge-nf-call-iptables
	BridgeNfIP6tables bool // net.bridge.bridge-nf-call-ip6tables
}

// Read reads the host's cgroups and networking from fsys, a view of / as
// the daemon sees it (os.DirFS("/")). What cannot be read counts as
// missing, as it does for dockerd.
func Read(fsys fs.FS) Host {
	return Host{Cgroups: readCgroups(fsys), Networking: readNetworking(fsys)}
}

func readNetworking(fsys fs.FS) Networking {
	return Networking{
		IPv4Forwarding:    sysctlOn(fsys, "proc/sys/net/ipv4/ip_forward"),
		BridgeNfIptables:  sysctlOn(fsys, "proc/sys/net/bridge/bridge-nf-call-iptables"),
		BridgeNfIP6tables: sysctlOn(fsys, "proc/sys/net/bridge/bridge-nf-call-ip6tables"),
	}
}

// sysctlOn reports whether the boolean sysctl file at name reads 1; a
// missing file (br_netfilter not loaded) is off.
func sysctlOn(fsys fs.FS, name string) bool {
	b, err := fs.ReadFile(fsys, name)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// exists reports whether name can be stat'ed in fsys.
func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}
