package faults

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
)

// nftTable is the table the nemesis owns in each host's namespace, apart
// from the daemon's own tables: healing a partition deletes it whole.
const nftTable = "shoalfaults"

// nftScript returns the nftables script that makes host drop the cut
// links it takes part in: what it would send on a cut link is dropped on
// the way out, what it would receive on one on the way in. Both ends
// drop, so one end's rules alone would already cut the link. Chains sit
// before conntrack, so established connections are cut as well. It is ""
// when host has no cut link.
func nftScript(host string, cuts []Link, addrs map[string]netip.Addr) string {
	var in, out []string
	for _, c := range cuts {
		switch host {
		case c.From:
			out = append(out, addrs[c.To].String())
		case c.To:
			in = append(in, addrs[c.From].String())
		}
	}
	if len(in) == 0 && len(out) == 0 {
		return ""
	}
	var b strings.Builder
	// Adding then deleting the table makes the script replace it whole,
	// whether or not it existed.
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\ntable inet %s {\n", nftTable, nftTable, nftTable)
	chain := func(name, hook, dir string, addrs []string) {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority -400; policy accept;\n", name, hook)
		if len(addrs) > 0 {
			slices.Sort(addrs)
			fmt.Fprintf(&b, "\t\tip %s { %s } drop\n", dir, strings.Join(slices.Compact(addrs), ", "))
		}
		b.WriteString("\t}\n")
	}
	chain("in", "input", "saddr", in)
	chain("out", "output", "daddr", out)
	b.WriteString("}\n")
	return b.String()
}

// nft runs an nftables script in a named network namespace.
func nft(ctx context.Context, netns, script string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", netns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %v: %s", netns, err, out)
	}
	return nil
}

// nftHeal removes the nemesis's table from a namespace, if it is there.
func nftHeal(ctx context.Context, netns string) error {
	return nft(ctx, netns, fmt.Sprintf("add table inet %s\ndelete table inet %s\n", nftTable, nftTable))
}
