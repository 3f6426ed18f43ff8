package etchosts

import (
	"net/netip"
	"testing"
)

const base = "127.0.0.1\tlocalhost\n1.2.3.4\tfoo\n"

func TestEntry(t *testing.T) {
	a := netip.MustParseAddr("172.18.0.2")
	for _, c := range []struct{ host, domain, want string }{
		{"7710919ffb53", "", "172.18.0.2\t7710919ffb53\n"},
		{"hh", "ex.org", "172.18.0.2\thh.ex.org hh\n"},
		{"a.b.c", "", "172.18.0.2\ta.b.c a\n"},
	} {
		if got := Entry(a, c.host, c.domain); got != c.want {
			t.Errorf("Entry(%q, %q) = %q, want %q", c.host, c.domain, got, c.want)
		}
	}
}

func TestAddAppendsAfterWhatIsThere(t *testing.T) {
	got := Add([]byte(base+"9.9.9.9 mine"), netip.MustParseAddr("172.19.0.5"), "h", "")
	if want := base + "9.9.9.9 mine\n172.19.0.5\th\n"; string(got) != want {
		t.Fatalf("Add = %q, want %q", got, want)
	}
	if got := Add([]byte(base), netip.Addr{}, "h", ""); string(got) != base {
		t.Fatalf("Add without an address = %q", got)
	}
}

// The cases checked side by side with dockerd 20.10: a default hostname
// (the short ID, one of the network's names) loses its lines on every
// network; a hostname of its own keeps them, unless it is a name or an
// alias of another container on the network left.
func TestDeleteAsDockerd(t *testing.T) {
	file := base + "172.18.0.2\tb6\n172.17.0.5\tb6\n"
	netNames := []string{"b6", "e118c560a61b", "other", "al", "0973695c27d3"}
	if got := Delete([]byte(file), LeaveNames(netNames, "b6")); string(got) != file {
		t.Fatalf("own name as hostname: %q, want it kept", got)
	}
	short := base + "172.18.0.5\t49502d5024d8\n172.19.0.4\t49502d5024d8\n"
	if got := Delete([]byte(short), LeaveNames([]string{"h4", "49502d5024d8", "x"}, "h4")); string(got) != base {
		t.Fatalf("short ID as hostname: %q, want both lines gone", got)
	}
	other := base + "172.18.0.4\tal\n172.17.0.4\tal\n"
	if got := Delete([]byte(other), LeaveNames(netNames, "b5")); string(got) != base {
		t.Fatalf("another's alias as hostname: %q, want both lines gone", got)
	}
	fqdn := base + "172.18.0.2\thh.ex.org hh\n"
	if got := Delete([]byte(fqdn), []string{"hh", "hh.ex.org"}); string(got) != fqdn {
		t.Fatalf("an FQDN line: %q, want it kept (it ends in a space and the name)", got)
	}
}

func TestLeaveNamesSkipsOwnFirstLabel(t *testing.T) {
	got := LeaveNames([]string{"web", "web.front", "www", "abc"}, "web")
	if len(got) != 2 || got[0] != "www" || got[1] != "abc" {
		t.Fatalf("LeaveNames = %q", got)
	}
}
