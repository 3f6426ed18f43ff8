package lb

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// A table is one nftables table of the ip family, the unit this package
// replaces. What is sent to the kernel (load) and the text the golden files
// hold (String) both come from this one value, so the two cannot drift apart;
// the text is written as `nft list table` prints it, so that a listing of
// the kernel's copy can be compared with it.
type table struct {
	name   string
	sets   []set
	chains []chain
}

// set is a named set, or a map to verdicts when verdicts is set.
type set struct {
	name     string
	key      keyType
	verdicts bool
	elems    []elem
}

// elem is one element of a set; verdict is nil unless the set is a map to
// verdicts.
type elem struct {
	key     datum
	verdict *verdict
}

// keyType is the type of a set's keys.
type keyType struct {
	text   string
	nft    nftables.SetDatatype
	concat bool
}

var (
	addrKey      = keyType{text: "ipv4_addr", nft: nftables.TypeIPAddr}
	protoPortKey = keyType{
		text:   "inet_proto . inet_service",
		nft:    nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService),
		concat: true,
	}
)

// datum is a value of a set key: its text and its bytes in the kernel.
type datum interface {
	String() string
	bytes() []byte
}

// addr is an IPv4 address as a set key.
type addr netip.Addr

func (a addr) String() string { return netip.Addr(a).String() }
func (a addr) bytes() []byte  { b := netip.Addr(a).As4(); return b[:] }

// protoPort is a transport protocol and port as a concatenated key: each part
// padded to the kernel's 4-byte registers.
type protoPort struct {
	proto string
	port  uint16
}

func (p protoPort) String() string { return fmt.Sprintf("%s . %d", p.proto, p.port) }
func (p protoPort) bytes() []byte {
	return []byte{protoNumbers[p.proto], 0, 0, 0, byte(p.port >> 8), byte(p.port), 0, 0}
}

// protoNumbers are the transport protocols a port can be published on.
var protoNumbers = map[string]byte{"tcp": 6, "udp": 17, "sctp": 132}

// chain is a chain; hook is nil for a chain reached only by jump or goto.
type chain struct {
	name  string
	hook  *hook
	rules []rule
}

// hook is where a base chain is attached; every one has policy accept, so
// that what this package does not match goes on untouched.
type hook struct {
	typ      nftables.ChainType
	name     string
	num      *nftables.ChainHook
	priority int32
}

var (
	natPrerouting  = hook{nftables.ChainTypeNAT, "prerouting", nftables.ChainHookPrerouting, -100}
	natOutput      = hook{nftables.ChainTypeNAT, "output", nftables.ChainHookOutput, -100}
	natPostrouting = hook{nftables.ChainTypeNAT, "postrouting", nftables.ChainHookPostrouting, 100}
	filterForward  = hook{nftables.ChainTypeFilter, "forward", nftables.ChainHookForward, 0}
	filterInput    = hook{nftables.ChainTypeFilter, "input", nftables.ChainHookInput, 0}
)

// priorityText is the priority as nft prints it: by its standard name where
// nft has one for that hook.
func (h hook) priorityText() string {
	switch {
	case h.priority == 0 && h.typ == nftables.ChainTypeFilter:
		return "filter"
	case h.priority == -100 && h.name == "prerouting":
		return "dstnat"
	case h.priority == 100 && h.name == "postrouting":
		return "srcnat"
	}
	return strconv.Itoa(int(h.priority))
}

// rule is a sequence of statements.
type rule []stmt

// stmt is one statement of a rule: its nft text and the expressions that
// do it in the kernel.
type stmt interface {
	String() string
	exprs(l *loader) ([]expr.Any, error)
}

func (r rule) String() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

func (t *table) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", t.name)
	var blocks []string
	for _, s := range t.sets {
		blocks = append(blocks, s.text())
	}
	for _, c := range t.chains {
		blocks = append(blocks, c.text())
	}
	b.WriteString(strings.Join(blocks, "\n"))
	b.WriteString("}\n")
	return b.String()
}

func (s set) text() string {
	var b strings.Builder
	kind, typ := "set", s.key.text
	if s.verdicts {
		kind, typ = "map", typ+" : verdict"
	}
	fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s\n", kind, s.name, typ)
	if len(s.elems) > 0 {
		items := make([]string, len(s.elems))
		for i, e := range s.elems {
			items[i] = e.key.String()
			if e.verdict != nil {
				items[i] += " : " + e.verdict.String()
			}
		}
		fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(items, ", "))
	}
	b.WriteString("\t}\n")
	return b.String()
}

func (c chain) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\tchain %s {\n", c.name)
	if c.hook != nil {
		fmt.Fprintf(&b, "\t\ttype %s hook %s priority %s; policy accept;\n", c.hook.typ, c.hook.name, c.hook.priorityText())
	}
	for _, r := range c.rules {
		fmt.Fprintf(&b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n")
	return b.String()
}

// loader turns a table into the messages of one nftables transaction.
type loader struct {
	conn  *nftables.Conn
	table *nftables.Table
	sets  map[string]*nftables.Set
	// setID numbers the sets of this transaction. Giving them here keeps
	// the library from using its package-wide counter, which concurrent
	// loads into different namespaces would race on.
	setID uint32
}

// load queues, on conn, the deletion of the table and its creation anew:
// sent as one transaction by conn.Flush, it replaces the table atomically —
// never a moment without rules, never duplicates. Adding the table first
// makes the deletion succeed when there is none yet.
func (t *table) load(conn *nftables.Conn) error {
	nt := &nftables.Table{Name: t.name, Family: nftables.TableFamilyIPv4}
	conn.AddTable(nt)
	conn.DelTable(nt)
	conn.AddTable(nt)
	l := &loader{conn: conn, table: nt, sets: map[string]*nftables.Set{}}
	// Chains go first: map elements and rules name them.
	chains := make([]*nftables.Chain, len(t.chains))
	for i, c := range t.chains {
		nc := &nftables.Chain{Name: c.name, Table: nt}
		if c.hook != nil {
			accept := nftables.ChainPolicyAccept
			nc.Type, nc.Hooknum, nc.Policy = c.hook.typ, c.hook.num, &accept
			nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(c.hook.priority))
		}
		chains[i] = conn.AddChain(nc)
	}
	for _, s := range t.sets {
		if err := l.addSet(s); err != nil {
			return err
		}
	}
	for i, c := range t.chains {
		for _, r := range c.rules {
			var exprs []expr.Any
			for _, s := range r {
				e, err := s.exprs(l)
				if err != nil {
					return fmt.Errorf("chain %s, rule %q: %w", c.name, r, err)
				}
				exprs = append(exprs, e...)
			}
			conn.AddRule(&nftables.Rule{Table: nt, Chain: chains[i], Exprs: exprs})
		}
	}
	return nil
}

func (l *loader) addSet(s set) error {
	l.setID++
	ns := &nftables.Set{
		Table:         l.table,
		ID:            l.setID,
		Name:          s.name,
		KeyType:       s.key.nft,
		Concatenation: s.key.concat,
	}
	if s.verdicts {
		ns.IsMap, ns.DataType = true, nftables.TypeVerdict
	}
	elems := make([]nftables.SetElement, len(s.elems))
	for i, e := range s.elems {
		elems[i].Key = e.key.bytes()
		if e.verdict != nil {
			elems[i].VerdictData = e.verdict.expr()
		}
	}
	if err := l.conn.AddSet(ns, elems); err != nil {
		return fmt.Errorf("set %s: %w", s.name, err)
	}
	l.sets[s.name] = ns
	return nil
}

// set returns the named set added earlier in the transaction.
func (l *loader) set(name string) (*nftables.Set, error) {
	s, ok := l.sets[name]
	if !ok {
		return nil, fmt.Errorf("no set %s in table %s", name, l.table.Name)
	}
	return s, nil
}

// anonymousMap adds a constant map that only the next rule uses.
func (l *loader) anonymousMap(key, data nftables.SetDatatype, elems []nftables.SetElement) (*nftables.Set, error) {
	l.setID++
	s := &nftables.Set{
		Table:     l.table,
		ID:        l.setID,
		Name:      "__map%d", // the kernel numbers anonymous sets
		Anonymous: true,
		Constant:  true,
		IsMap:     true,
		KeyType:   key,
		DataType:  data,
	}
	if err := l.conn.AddSet(s, elems); err != nil {
		return nil, err
	}
	return s, nil
}

// sortedAddrs returns addrs sorted, so that equal inputs give equal tables.
func sortedAddrs(addrs []netip.Addr) []netip.Addr {
	s := slices.Clone(addrs)
	slices.SortFunc(s, netip.Addr.Compare)
	return s
}
