package bridge

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// tableName is the nftables table (ip family) that holds all of this
// package's rules. No other table is ever touched.
const tableName = "shoal"

// masqueradeRule is `ip saddr SUBNET oifname != BRIDGE masquerade`: traffic
// from the containers that leaves the node by another interface takes the
// node's address.
func masqueradeRule(subnet netip.Prefix, bridge string) []expr.Any {
	network := subnet.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: net.CIDRMask(subnet.Bits(), 32), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: network[:]},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(bridge)},
		&expr.Masq{},
	}
}

// forwardRules are `iifname BRIDGE accept` and `oifname BRIDGE accept`.
func forwardRules(bridge string) [][]expr.Any {
	accept := func(key expr.MetaKey) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(bridge)},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}
	}
	return [][]expr.Any{accept(expr.MetaKeyIIFNAME), accept(expr.MetaKeyOIFNAME)}
}

// ifname is name as the kernel compares interface names: NUL-padded to
// IFNAMSIZ, so that "shoal0" does not also match "shoal01".
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// applyRules replaces the whole shoal table in one transaction: adding it
// (a no-op when it exists), deleting it and adding it anew leaves exactly
// the rules below, never duplicates and never a moment without them. The
// node bridge's rules come with those of the node's local networks
// (localRules).
func applyRules(subnet netip.Prefix, bridge string, locals []Local) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	post := c.AddChain(&nftables.Chain{
		Name:     "postrouting",
		Table:    t,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: masqueradeRule(subnet, bridge)})
	for _, l := range locals {
		if l.Masquerade && !l.Internal {
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: masqueradeRule(l.Subnet, l.Name)})
		}
	}
	fwd := c.AddChain(&nftables.Chain{
		Name:     "forward",
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter,
	})
	if err := addLocalRules(c, t, fwd, bridge, locals); err != nil {
		return err
	}
	for _, exprs := range forwardRules(bridge) {
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: exprs})
	}
	for _, l := range locals {
		if !l.Internal {
			for _, exprs := range forwardRules(l.Name) {
				c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: exprs})
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("replace nftables table %s: %w", tableName, err)
	}
	return nil
}

// gatewayTable is the nftables table (bridge family) that keeps the ways
// out apart: wayOutPrefix names their ports.
const gatewayTable = "shoal-gw"

// wayOutPrefix starts the host end's name of a way out's veth.
const wayOutPrefix = "vgw"

// applyGatewayRules replaces the gatewayTable whole: in the bridge's
// forward hook (frames bridged from one port to another, not those to or
// from the node, which go by input and output), `iifname "vgw*" drop`
// and `oifname "vgw*" drop`. So a task's way out, dockerd's
// docker_gwbridge with icc off, reaches the gateway (its way out, NATed)
// and is reached from the node (the routing mesh's DNAT, published
// ports), but no container of the default bridge reaches it and no way
// out reaches another: on one Linux bridge, as dockerd's docker0 and
// docker_gwbridge are two. Matching the prefix (a cmp of its bytes, as
// nft's "vgw*") needs no rule per container.
func applyGatewayRules() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Name: gatewayTable, Family: nftables.TableFamilyBridge}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	fwd := c.AddChain(&nftables.Chain{
		Name:     "forward",
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter,
	})
	for _, key := range []expr.MetaKey{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME} {
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(wayOutPrefix)},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("replace nftables table %s: %w", gatewayTable, err)
	}
	return nil
}

// deleteRules removes the node's two tables, the shoal table and the
// gatewayTable, in one transaction; a table that is not there is no error.
func deleteRules() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, t := range []*nftables.Table{
		{Name: tableName, Family: nftables.TableFamilyIPv4},
		{Name: gatewayTable, Family: nftables.TableFamilyBridge},
	} {
		// Adding first makes the delete succeed when the table is not there.
		c.AddTable(t)
		c.DelTable(t)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables tables %s and %s: %w", tableName, gatewayTable, err)
	}
	return nil
}
