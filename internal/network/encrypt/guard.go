package encrypt

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// guardTable is the nftables table (ip family) that holds the guard and
// nothing else; no other table is touched.
const guardTable = "shoal-encrypt"

// maxVNI is the largest VXLAN network identifier (24 bits).
const maxVNI = 1<<24 - 1

// Guard makes the namespace at nsPath (the calling thread's when empty)
// drop VXLAN packets to UDP port with one of vnis in their header unless
// they arrived on the tunnel interface: an encrypted network's VXLAN is
// accepted only from inside the tunnel, so nobody on the underlay can
// inject frames into it in the clear. The guard is replaced whole on each
// call; with no vnis it drops nothing.
func Guard(ctx context.Context, nsPath string, port uint16, tunnelIfname string, vnis []uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g, err := guardRuleset(port, tunnelIfname, vnis)
	if err != nil {
		return err
	}
	return withNftables(nsPath, func(c *nftables.Conn) error {
		// Adding the table first makes the delete succeed when it is not
		// there; the whole replacement is one transaction, so there is no
		// moment without the guard.
		c.AddTable(g.table)
		c.DelTable(g.table)
		c.AddTable(g.table)
		c.AddChain(g.chain)
		for _, exprs := range g.rules {
			c.AddRule(&nftables.Rule{Table: g.table, Chain: g.chain, Exprs: exprs})
		}
		return nil
	})
}

// RemoveGuard deletes the guard's table from the namespace at nsPath (the
// calling thread's when empty), if it is there.
func RemoveGuard(ctx context.Context, nsPath string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return withNftables(nsPath, func(c *nftables.Conn) error {
		t := &nftables.Table{Name: guardTable, Family: nftables.TableFamilyIPv4}
		c.AddTable(t)
		c.DelTable(t)
		return nil
	})
}

// withNftables queues fn's changes on a connection to the namespace at
// nsPath and sends them as one transaction.
func withNftables(nsPath string, fn func(*nftables.Conn) error) error {
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
	defer c.CloseLasting()
	if err := fn(c); err != nil {
		return fmt.Errorf("nftables table %s: %w", guardTable, err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("replace nftables table %s: %w", guardTable, err)
	}
	return nil
}

// ruleset is the guard's table as nftables objects, built without a
// connection so that tests can read it.
type ruleset struct {
	table *nftables.Table
	chain *nftables.Chain
	rules [][]expr.Any
}

// guardRuleset is, in nft's words:
//
//	table ip shoal-encrypt {
//		chain input {
//			type filter hook input priority filter; policy accept;
//			udp dport PORT iifname != TUNNEL @th,96,24 VNI counter drop   (one a VNI)
//		}
//	}
//
// A rule for each VNI rather than one over a set: a node has few encrypted
// networks, and each rule's counter tells which network plain packets were
// aimed at. The input hook sees the packets delivered to this host (VXLAN
// is received by a local socket), after IP reassembly, so a fragmented
// packet cannot slip by with its VXLAN header in a later fragment; traffic
// the host only forwards is not this guard's business.
func guardRuleset(port uint16, tunnelIfname string, vnis []uint32) (ruleset, error) {
	if port == 0 {
		return ruleset{}, errdefs.Invalid("guard port 0: want the VXLAN data path port")
	}
	if tunnelIfname == "" || len(tunnelIfname) >= unix.IFNAMSIZ {
		return ruleset{}, errdefs.Invalid("guard tunnel interface %q: want a name of 1 to 15 bytes", tunnelIfname)
	}
	vnis = slices.Compact(slices.Sorted(slices.Values(vnis)))
	table := &nftables.Table{Name: guardTable, Family: nftables.TableFamilyIPv4}
	accept := nftables.ChainPolicyAccept
	g := ruleset{
		table: table,
		chain: &nftables.Chain{
			Name:     "input",
			Table:    table,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookInput,
			Priority: nftables.ChainPriorityFilter,
			Policy:   &accept,
		},
	}
	for _, vni := range vnis {
		if vni == 0 || vni > maxVNI {
			return ruleset{}, errdefs.Invalid("guard VNI %d: want 1 to %d", vni, maxVNI)
		}
		g.rules = append(g.rules, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
			// The UDP destination port: bytes 2-3 of the UDP header.
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(tunnelIfname)},
			// The VNI: bytes 4-6 of the VXLAN header, which follows the
			// 8-byte UDP header.
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 8 + 4, Len: 3},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vniBytes(vni)},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		})
	}
	return g, nil
}

func vniBytes(vni uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, vni)
	return b[1:]
}

// ifname is name as the kernel compares interface names: NUL-padded to
// IFNAMSIZ, so that "shwg0" does not also match "shwg01".
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}
