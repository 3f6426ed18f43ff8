package containerdexec

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/swarm"
)

// defaultNameservers are what Docker puts in a container's resolv.conf when
// the host has no nameserver a container can reach.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// hostsFile returns the container's /etc/hosts: the loopback names, the
// container's own address under its hostname, and the spec's extra hosts
// ("IP name [aliases...]").
func hostsFile(hostname string, addr netip.Addr, extra []string) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("ff00::0\tip6-mcastprefix\n")
	b.WriteString("ff02::1\tip6-allnodes\n")
	b.WriteString("ff02::2\tip6-allrouters\n")
	if addr.IsValid() {
		fmt.Fprintf(&b, "%s\t%s\n", addr, hostname)
	}
	for _, h := range extra {
		if f := strings.Fields(h); len(f) >= 2 {
			fmt.Fprintf(&b, "%s\t%s\n", f[0], strings.Join(f[1:], " "))
		}
	}
	return b.Bytes()
}

// resolvConf returns the container's /etc/resolv.conf from the host's.
// Nameservers on the host's loopback cannot be reached from the container's
// network namespace, so they are dropped, and Docker's defaults are used
// when none is left. The spec's DNS config replaces what it sets.
func resolvConf(host []byte, dns *swarm.DNSConfig) []byte {
	var nameservers, search, options []string
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil && !a.IsLoopback() {
				nameservers = append(nameservers, f[1])
			}
		case "search", "domain":
			search = f[1:]
		case "options":
			options = append(options, f[1:]...)
		}
	}
	if len(nameservers) == 0 {
		nameservers = defaultNameservers
	}
	if dns != nil {
		if len(dns.Nameservers) > 0 {
			nameservers = nameservers[:0:0]
			for _, a := range dns.Nameservers {
				nameservers = append(nameservers, a.String())
			}
		}
		if len(dns.Search) > 0 {
			search = dns.Search
		}
		if len(dns.Options) > 0 {
			options = dns.Options
		}
	}

	var b bytes.Buffer
	for _, ns := range nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes()
}
