package imagepeer

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// noShuffle leaves the order alone: shuffle swaps each element with
// itself.
func noShuffle(n int) int { return n - 1 }

func TestOrder(t *testing.T) {
	m1 := Holder{NodeID: "m1", Addr: "10.0.0.1:2377", Manager: true}
	m2 := Holder{NodeID: "m2", Addr: "10.0.0.2:2377", Manager: true}
	w := func(id string) Holder { return Holder{NodeID: id, Addr: id + ":2377"} }
	tests := []struct {
		name    string
		holders []Holder
		self    string
		want    []Holder
	}{
		{"nobody", nil, "w1", nil},
		{"only a manager", []Holder{m1}, "w1", []Holder{m1}},
		{"workers before managers", []Holder{m1, w("w2"), m2, w("w3")}, "w1", []Holder{w("w2"), w("w3"), m1, m2}},
		{"never itself", []Holder{w("w1"), m1}, "w1", []Holder{m1}},
		{"a manager never fetches from itself", []Holder{m1, m2}, "m1", []Holder{m2}},
		{"once per node", []Holder{w("w2"), w("w2"), m1}, "w1", []Holder{w("w2"), m1}},
		{"no address, no try", []Holder{{NodeID: "w2"}, m1}, "w1", []Holder{m1}},
		{"many workers leave room for a manager",
			[]Holder{w("w2"), w("w3"), w("w4"), w("w5"), w("w6"), m1, m2}, "w1",
			[]Holder{w("w2"), w("w3"), w("w4"), m1}},
		{"many workers and no manager", []Holder{w("w2"), w("w3"), w("w4"), w("w5"), w("w6")}, "w1",
			[]Holder{w("w2"), w("w3"), w("w4"), w("w5")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Order(tt.holders, tt.self, noShuffle)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Order (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOrderSpreads checks that many nodes asking at once do not all pick
// the same holder: with a real random source every worker holder is
// someone's first choice.
func TestOrderSpreads(t *testing.T) {
	hs := []Holder{{NodeID: "m", Addr: "m:1", Manager: true}}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		hs = append(hs, Holder{NodeID: id, Addr: id + ":1"})
	}
	first := map[string]int{}
	for i := range 1000 {
		first[Order(hs, "self", randIntN(uint64(i)))[0].NodeID]++
	}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if first[id] < 100 {
			t.Errorf("%s came first %d times in 1000 (%v); want about 200", id, first[id], first)
		}
	}
	if first["m"] != 0 {
		t.Errorf("a manager came first %d times while workers held the image", first["m"])
	}
}

func TestSample(t *testing.T) {
	var hs []Holder
	for _, id := range []string{"a", "b", "c", "d"} {
		hs = append(hs, Holder{NodeID: id})
	}
	if got := Sample(hs, 10, noShuffle); len(got) != 4 {
		t.Errorf("Sample of 4 with room for 10 gave %d", len(got))
	}
	got := Sample(hs, 2, noShuffle)
	if len(got) != 2 {
		t.Fatalf("Sample of 4 capped at 2 gave %d", len(got))
	}
	if hs[0].NodeID != "a" {
		t.Errorf("Sample changed its argument: %v", hs)
	}
}

func TestUnannounced(t *testing.T) {
	got := Unannounced([]string{"a:1", "b:1", "c:1", "d:1", "e:1"})
	want := []Holder{{Addr: "a:1", Manager: true}, {Addr: "b:1", Manager: true}, {Addr: "c:1", Manager: true}, {Addr: "d:1", Manager: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Unannounced (-want +got):\n%s", diff)
	}
	if got := Unannounced(nil); len(got) != 0 {
		t.Errorf("Unannounced of no managers: %v", got)
	}
}
