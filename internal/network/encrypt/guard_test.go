package encrypt

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// golden compares got with testdata/name, or writes it there under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
	}
}

func TestGuardRuleset(t *testing.T) {
	var out bytes.Buffer
	for _, tt := range []struct {
		name string
		port uint16
		vnis []uint32
	}{
		{"two networks, given unsorted and twice", 4789, []uint32{4243, 4098, 4243}},
		{"no encrypted network", 4789, nil},
		{"another data path port and the largest VNI", 7789, []uint32{1<<24 - 1}},
	} {
		g, err := guardRuleset(tt.port, "shwg0", tt.vnis)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		fmt.Fprintf(&out, "# %s: port %d, vnis %v\n%s\n", tt.name, tt.port, tt.vnis, renderRuleset(g))
	}
	golden(t, "guard.golden", out.Bytes())
}

func TestGuardRulesetRefuses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		port   uint16
		ifname string
		vnis   []uint32
		want   string
	}{
		{"port 0", 0, "shwg0", []uint32{1}, "guard port 0"},
		{"no interface", 4789, "", []uint32{1}, `interface ""`},
		{"long interface", 4789, "a-very-long-name0", []uint32{1}, "1 to 15 bytes"},
		{"VNI 0", 4789, "shwg0", []uint32{0}, "VNI 0"},
		{"VNI over 24 bits", 4789, "shwg0", []uint32{1 << 24}, "VNI 16777216: want 1 to 16777215"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := guardRuleset(tt.port, tt.ifname, tt.vnis)
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an Invalid error saying %q", err, tt.want)
			}
		})
	}
}

// renderRuleset writes the ruleset one object and one expression a line,
// in a form stable across runs (no set IDs, which are process-global) and
// with nft's names for the numbers this package uses.
func renderRuleset(g ruleset) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s\n", name(families, g.table.Family), g.table.Name)
	fmt.Fprintf(&b, "  chain %s type %s hook %s priority %d policy %s\n", g.chain.Name, g.chain.Type,
		name(hooks, *g.chain.Hooknum), *g.chain.Priority, name(policies, *g.chain.Policy))
	for _, rule := range g.rules {
		b.WriteString("    rule\n")
		for _, e := range rule {
			fmt.Fprintf(&b, "      %s\n", renderExpr(e))
		}
	}
	return b.String()
}

var (
	families = map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip"}
	hooks    = map[nftables.ChainHook]string{*nftables.ChainHookInput: "input"}
	policies = map[nftables.ChainPolicy]string{nftables.ChainPolicyAccept: "accept", nftables.ChainPolicyDrop: "drop"}
	metaKeys = map[expr.MetaKey]string{expr.MetaKeyL4PROTO: "l4proto", expr.MetaKeyIIFNAME: "iifname"}
	cmpOps   = map[expr.CmpOp]string{expr.CmpOpEq: "==", expr.CmpOpNeq: "!="}
	bases    = map[expr.PayloadBase]string{expr.PayloadBaseTransportHeader: "transport"}
	verdicts = map[expr.VerdictKind]string{expr.VerdictDrop: "drop", expr.VerdictAccept: "accept"}
)

// name is k's name in names, or k itself when it has none.
func name[K comparable](names map[K]string, k K) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprint(k)
}

func renderExpr(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		return fmt.Sprintf("meta %s -> reg %d", name(metaKeys, e.Key), e.Register)
	case *expr.Cmp:
		if len(e.Data) == unix.IFNAMSIZ {
			// An interface name, shown with its padding.
			return fmt.Sprintf("cmp reg %d %s %q", e.Register, name(cmpOps, e.Op), e.Data)
		}
		return fmt.Sprintf("cmp reg %d %s %x", e.Register, name(cmpOps, e.Op), e.Data)
	case *expr.Payload:
		return fmt.Sprintf("payload %s offset %d len %d -> reg %d", name(bases, e.Base), e.Offset, e.Len, e.DestRegister)
	case *expr.Counter:
		return "counter"
	case *expr.Verdict:
		return "verdict " + name(verdicts, e.Kind)
	}
	return fmt.Sprintf("%T %+v", e, e)
}
