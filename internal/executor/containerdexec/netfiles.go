package containerdexec

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/network/etchosts"
	"github.com/shoal-project/shoal/internal/network/resolver"
)

// This file keeps a plain container's hosts and resolv.conf in step with
// its networks after it was made, as dockerd does on docker network
// connect and disconnect and at each start. The files are bind-mounted
// into the container, so they are written in place: a file put in their
// stead would not be seen.

// plainHosts is a plain container's /etc/hosts as dockerd 20.10 builds
// it: the loopback names, its extra hosts (host-gateway standing for
// gateway), then a line for each of its addresses (etchosts.Entry).
func plainHosts(cfgHostname, domainname string, extra []string, gateway netip.Addr, addrs []netip.Addr) []byte {
	b := append(hostsFile(cfgHostname, netip.Addr{}, nil), extraHosts(extra, gateway)...)
	for _, a := range addrs {
		b = etchosts.Add(b, a, cfgHostname, domainname)
	}
	return b
}

// EditHosts rewrites plain container id's /etc/hosts with edit, which
// gets the container's hostname and domain name too.
func (e *Executor) EditHosts(id string, edit func(file []byte, hostname, domainname string) []byte) error {
	rec, err := e.readRecord(id)
	if err != nil {
		return err
	}
	if rec.HostConfig.NetworkMode.IsHost() || rec.HostConfig.NetworkMode.IsContainer() {
		return nil
	}
	path := filepath.Join(e.dir(id), "hosts")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the hosts file of %s: %w", id, err)
	}
	return writeInPlace(path, edit(b, rec.Config.Hostname, rec.Config.Domainname))
}

// RebuildHosts writes plain container id's /etc/hosts anew for its
// addresses, as dockerd does at each start: what was added by hand or
// for networks it left goes.
func (e *Executor) RebuildHosts(id string, addrs []netip.Addr) error {
	rec, err := e.readRecord(id)
	if err != nil {
		return err
	}
	if rec.HostConfig.NetworkMode.IsHost() || rec.HostConfig.NetworkMode.IsContainer() {
		return nil
	}
	b := plainHosts(rec.Config.Hostname, rec.Config.Domainname, rec.HostConfig.ExtraHosts, e.hostGateway(), addrs)
	return writeInPlace(filepath.Join(e.dir(id), "hosts"), b)
}

// UseEmbeddedDNS points plain container id's resolv.conf at the DNS
// server the engine runs in its namespace (127.0.0.11), as dockerd does
// when a container made without one (--network none) joins a
// user-defined network.
func (e *Executor) UseEmbeddedDNS(id string) error {
	rec, err := e.readRecord(id)
	if err != nil {
		return err
	}
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read host resolv.conf: %w", err)
	}
	h := &rec.HostConfig
	dns := &swarm.DNSConfig{Nameservers: h.DNS, Search: h.DNSSearch, Options: h.DNSOptions}
	return writeInPlace(filepath.Join(e.dir(id), "resolv.conf"), resolver.ResolvConf(host, dns))
}

// writeInPlace replaces the contents of the file at path, keeping the
// file (its inode, owner and mode).
func writeInPlace(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
