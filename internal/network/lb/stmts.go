package lb

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The statements the rule sets are made of. Each knows its nft text (as
// `nft list` prints it) and its kernel expressions; the loader and the
// golden files both read them.

// Registers: reg 1 is the first 16-byte register; reg 9 is the second
// 4-byte word of it, where the second part of a concatenation goes.
const (
	reg1       = 1
	reg2       = 2
	reg32_01   = 9
	verdictReg = 0
)

// Kernel constants that golang.org/x/sys does not have.
const (
	ipsDstNAT       = 1 << 5 // IPS_DST_NAT, linux/netfilter/nf_conntrack_common.h
	icmpPortUnreach = 3      // ICMP_PORT_UNREACH, linux/icmp.h
)

// addrField is the IPv4 header field a statement reads.
type addrField string

const (
	saddr addrField = "saddr"
	daddr addrField = "daddr"
)

func (f addrField) load() *expr.Payload {
	offset := uint32(12)
	if f == daddr {
		offset = 16
	}
	return &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

// matchAddr is `ip saddr|daddr PREFIX`.
type matchAddr struct {
	field  addrField
	prefix netip.Prefix
}

func (m matchAddr) String() string {
	if m.prefix.IsSingleIP() {
		return fmt.Sprintf("ip %s %s", m.field, m.prefix.Addr())
	}
	return fmt.Sprintf("ip %s %s", m.field, m.prefix)
}

func (m matchAddr) exprs(*loader) ([]expr.Any, error) {
	want := m.prefix.Masked().Addr().As4()
	e := []expr.Any{m.field.load()}
	if !m.prefix.IsSingleIP() {
		e = append(e, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: net.CIDRMask(m.prefix.Bits(), 32), Xor: make([]byte, 4)})
	}
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: want[:]}), nil
}

// matchAddrSet is `ip saddr|daddr @SET`.
type matchAddrSet struct {
	field addrField
	set   string
}

func (m matchAddrSet) String() string { return fmt.Sprintf("ip %s @%s", m.field, m.set) }

func (m matchAddrSet) exprs(l *loader) ([]expr.Any, error) {
	s, err := l.set(m.set)
	if err != nil {
		return nil, err
	}
	return []expr.Any{m.field.load(), &expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID}}, nil
}

// addrVmap is `ip daddr vmap @MAP`: the verdict the address maps to.
type addrVmap struct {
	field addrField
	set   string
}

func (m addrVmap) String() string { return fmt.Sprintf("ip %s vmap @%s", m.field, m.set) }

func (m addrVmap) exprs(l *loader) ([]expr.Any, error) {
	s, err := l.set(m.set)
	if err != nil {
		return nil, err
	}
	return []expr.Any{
		m.field.load(),
		&expr.Lookup{SourceRegister: reg1, DestRegister: verdictReg, IsDestRegSet: true, SetName: s.Name, SetID: s.ID},
	}, nil
}

// protoPortVmap is `meta l4proto . th dport vmap @MAP`.
type protoPortVmap struct{ set string }

func (m protoPortVmap) String() string { return fmt.Sprintf("meta l4proto . th dport vmap @%s", m.set) }

func (m protoPortVmap) exprs(l *loader) ([]expr.Any, error) {
	s, err := l.set(m.set)
	if err != nil {
		return nil, err
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Payload{DestRegister: reg32_01, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg1, DestRegister: verdictReg, IsDestRegSet: true, SetName: s.Name, SetID: s.ID},
	}, nil
}

// localDaddr is `fib daddr type local`: the packet is addressed to one of
// this namespace's own addresses, 127.0.0.1 included.
type localDaddr struct{}

func (localDaddr) String() string { return "fib daddr type local" }

func (localDaddr) exprs(*loader) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}, nil
}

// matchProto is `meta l4proto PROTO`.
type matchProto struct{ proto string }

func (m matchProto) String() string { return "meta l4proto " + m.proto }

func (m matchProto) exprs(*loader) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{protoNumbers[m.proto]}},
	}, nil
}

// matchIifname is `iifname "NAME"`, or `iifname != "NAME"`.
type matchIifname struct {
	name string
	not  bool
}

func (m matchIifname) String() string {
	if m.not {
		return fmt.Sprintf("iifname != %q", m.name)
	}
	return fmt.Sprintf("iifname %q", m.name)
}

func (m matchIifname) exprs(*loader) ([]expr.Any, error) {
	op := expr.CmpOpEq
	if m.not {
		op = expr.CmpOpNeq
	}
	// NUL-padded to IFNAMSIZ, as the kernel compares names, so that "br0"
	// does not also match "br01".
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, m.name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
		&expr.Cmp{Op: op, Register: reg1, Data: name},
	}, nil
}

// ctStatusDNAT is `ct status dnat`: the connection's destination was
// rewritten (by this table or another).
type ctStatusDNAT struct{}

func (ctStatusDNAT) String() string { return "ct status dnat" }

func (ctStatusDNAT) exprs(*loader) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}, nil
}

// ctStateNew is `ct state new`: the first packet of a connection. It is the
// only kind a nat chain sees anyway; in a table it also keeps connection
// tracking on in the namespace: the kernel tracks connections only while
// some rule needs it, and a nat chain alone does not count, so a table whose
// VIPs all lost their backends (no dnat left) would otherwise stop
// tracking, and with it the DNAT of every established connection.
type ctStateNew struct{}

func (ctStateNew) String() string { return "ct state new" }

func (ctStateNew) exprs(*loader) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}, nil
}

// ctNotEstablished is `ct state ! established,related`: a packet that
// starts something, or belongs to nothing.
type ctNotEstablished struct{}

func (ctNotEstablished) String() string { return "ct state ! established,related" }

func (ctNotEstablished) exprs(*loader) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: make([]byte, 4)},
	}, nil
}

// setMarkBit is `meta mark set meta mark | BIT`.
type setMarkBit struct{ bit uint32 }

func (m setMarkBit) String() string { return fmt.Sprintf("meta mark set meta mark | 0x%08x", m.bit) }

func (m setMarkBit) exprs(*loader) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^m.bit), Xor: binaryutil.NativeEndian.PutUint32(m.bit)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}, nil
}

// matchMarkBit is `meta mark & BIT == BIT`.
type matchMarkBit struct{ bit uint32 }

func (m matchMarkBit) String() string {
	return fmt.Sprintf("meta mark & 0x%08x == 0x%08x", m.bit, m.bit)
}

func (m matchMarkBit) exprs(*loader) ([]expr.Any, error) {
	bit := binaryutil.NativeEndian.PutUint32(m.bit)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: bit, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: bit},
	}, nil
}

// dnat rewrites the destination to one of to, chosen at random when there
// are several, and to port unless it is 0 (then the port is kept). A rule
// with a port needs a protocol match before it, as nft requires.
type dnat struct {
	to   []netip.Addr // sorted, at least one
	port uint16
}

func (d dnat) String() string {
	var target string
	if len(d.to) == 1 {
		target = d.to[0].String()
	} else {
		items := make([]string, len(d.to))
		for i, a := range d.to {
			items[i] = fmt.Sprintf("%d : %s", i, a)
		}
		target = fmt.Sprintf("numgen random mod %d map { %s }", len(d.to), strings.Join(items, ", "))
	}
	if d.port != 0 {
		return fmt.Sprintf("dnat to %s:%d", target, d.port)
	}
	return "dnat to " + target
}

func (d dnat) exprs(l *loader) ([]expr.Any, error) {
	var e []expr.Any
	if len(d.to) == 1 {
		a := d.to[0].As4()
		e = append(e, &expr.Immediate{Register: reg1, Data: a[:]})
	} else {
		elems := make([]nftables.SetElement, len(d.to))
		for i, a := range d.to {
			b := a.As4()
			elems[i] = nftables.SetElement{Key: binary.BigEndian.AppendUint32(nil, uint32(i)), Val: b[:]}
		}
		m, err := l.anonymousMap(nftables.TypeInteger, nftables.TypeIPAddr, elems)
		if err != nil {
			return nil, err
		}
		e = append(e,
			&expr.Numgen{Register: reg1, Modulus: uint32(len(d.to)), Type: unix.NFT_NG_RANDOM},
			// numgen gives a host-order number; the map's keys are in
			// network order because google/nftables (v0.3.0) marks every
			// anonymous set's keys big-endian, and nft would print
			// host-order keys wrongly (1 as 16777216). nft hides this
			// conversion when it lists the rule.
			&expr.Byteorder{SourceRegister: reg1, DestRegister: reg1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
		)
	}
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1}
	if d.port != 0 {
		e = append(e, &expr.Immediate{Register: reg2, Data: binary.BigEndian.AppendUint16(nil, d.port)})
		nat.RegProtoMin = reg2
	}
	return append(e, nat), nil
}

// snat is `snat to ADDR`.
type snat struct{ to netip.Addr }

func (s snat) String() string { return "snat to " + s.to.String() }

func (s snat) exprs(*loader) ([]expr.Any, error) {
	a := s.to.As4()
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: a[:]},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1},
	}, nil
}

// masquerade is `masquerade`: the source becomes the address of the
// interface the packet leaves by.
type masquerade struct{}

func (masquerade) String() string                    { return "masquerade" }
func (masquerade) exprs(*loader) ([]expr.Any, error) { return []expr.Any{&expr.Masq{}}, nil }

// reject answers at once: a TCP reset for TCP, ICMP port unreachable for
// the rest. nft folds the TCP match into `reject with tcp reset`.
type reject struct{ tcpReset bool }

func (r reject) String() string {
	if r.tcpReset {
		return "reject with tcp reset"
	}
	return "reject"
}

func (r reject) exprs(l *loader) ([]expr.Any, error) {
	if !r.tcpReset {
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreach}}, nil
	}
	tcp, _ := matchProto{"tcp"}.exprs(l)
	return append(tcp, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}), nil
}

// verdict is accept, drop, jump CHAIN or goto CHAIN, as a statement or as
// the value of a map element.
type verdict struct {
	kind  expr.VerdictKind
	chain string
}

var (
	accept = verdict{kind: expr.VerdictAccept}
	drop   = verdict{kind: expr.VerdictDrop}
)

func jump(chain string) verdict       { return verdict{kind: expr.VerdictJump, chain: chain} }
func goTo(chain string) verdict       { return verdict{kind: expr.VerdictGoto, chain: chain} }
func (v verdict) expr() *expr.Verdict { return &expr.Verdict{Kind: v.kind, Chain: v.chain} }

func (v verdict) String() string {
	switch v.kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictJump:
		return "jump " + v.chain
	case expr.VerdictGoto:
		return "goto " + v.chain
	}
	return fmt.Sprintf("verdict %d", v.kind)
}

func (v verdict) exprs(*loader) ([]expr.Any, error) { return []expr.Any{v.expr()}, nil }
