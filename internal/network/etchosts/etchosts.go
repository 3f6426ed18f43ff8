// Package etchosts decides what a plain container's /etc/hosts holds
// about its own addresses, as dockerd 20.10 (libnetwork's sandbox) writes
// it: one line per network it joins, appended after the loopback names
// and the extra hosts, and lines taken out when it leaves a network that
// has names. It edits the file's contents only; the caller reads and
// writes the file.
package etchosts

import (
	"bytes"
	"net/netip"
	"strings"
)

// Entry is the line dockerd appends when a container joins a network at
// addr: its fully qualified name, then the bare hostname when the two
// differ ("web.example.org web"), after a tab.
func Entry(addr netip.Addr, hostname, domainname string) string {
	fqdn := hostname
	if domainname != "" {
		fqdn += "." + domainname
	}
	names := fqdn
	if short, _, ok := strings.Cut(fqdn, "."); ok {
		names += " " + short
	}
	return addr.String() + "\t" + names + "\n"
}

// Add appends the container's entry for addr to file, as a connect
// does; an invalid addr (a network that gives none) adds nothing.
func Add(file []byte, addr netip.Addr, hostname, domainname string) []byte {
	if !addr.IsValid() {
		return file
	}
	out := bytes.Clone(file)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, Entry(addr, hostname, domainname)...)
}

// Delete removes from file every line that ends in a tab and one of
// names, as dockerd does when a container leaves a network, with the
// names that network's DNS knows (LeaveNames). So a container whose
// hostname is one of them (its short ID, the default hostname, is
// always one) loses all the lines of its hostname, on every network,
// while one with a hostname of its own keeps them.
func Delete(file []byte, names []string) []byte {
	if len(names) == 0 {
		return file
	}
	var out []byte
	for _, line := range bytes.SplitAfter(file, []byte("\n")) {
		body := bytes.TrimSuffix(line, []byte("\n"))
		drop := false
		for _, n := range names {
			if bytes.HasSuffix(body, []byte("\t"+n)) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, line...)
		}
	}
	return out
}

// LeaveNames are the names Delete takes out when container name leaves
// a network whose DNS knows names (its endpoints' names, aliases and
// short IDs, this container's among them): all but those whose first
// label is the container's own name, which dockerd skips.
func LeaveNames(names []string, name string) []string {
	var out []string
	for _, n := range names {
		if first, _, _ := strings.Cut(n, "."); first != name {
			out = append(out, n)
		}
	}
	return out
}
