package container

import (
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name, want, err string
	}{
		{name: "web", want: "web"},
		{name: "/web", want: "web"},
		{name: "a.b_c-1", want: "a.b_c-1"},
		{name: "w", err: "Invalid container name (w), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
		{name: "-web", err: "Invalid container name (-web)"},
		{name: "web!", err: "Invalid container name (web!)"},
		{name: "we b", err: "Invalid container name (we b)"},
		{name: "//web", err: "Invalid container name (//web)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckName(tt.name)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("CheckName(%q) = %q, %v; want invalid %q", tt.name, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CheckName(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestGenerateName(t *testing.T) {
	taken := map[string]bool{}
	for range 200 {
		n := GenerateName(func(s string) bool { return taken[s] })
		if taken[n] {
			t.Fatalf("GenerateName gave %q, which is taken", n)
		}
		if _, err := CheckName(n); err != nil {
			t.Fatalf("GenerateName gave an invalid name: %v", err)
		}
		taken[n] = true
	}
}

func TestResolve(t *testing.T) {
	refs := []Ref{
		{ID: "abc111", Name: "web"},
		{ID: "abc222", Name: "db"},
		{ID: "def333", Name: "abc"},     // a name that is a prefix of other IDs
		{ID: "fed444", Name: "def333x"}, // a name that looks like an ID
	}
	tests := []struct {
		in, want, err string
	}{
		{in: "abc111", want: "abc111"},
		{in: "web", want: "abc111"},
		{in: "/web", want: "abc111"},
		{in: "abc1", want: "abc111"},
		{in: "abc", want: "def333"}, // a name wins over ID prefixes
		{in: "ab", err: "multiple IDs found with provided prefix: ab"},
		{in: "def333x", want: "fed444"},
		{in: "de", want: "def333"},
		{in: "nothing", err: "No such container: nothing"},
		{in: "", err: "No such container: "},
		{in: "/abc1", err: "No such container: /abc1"}, // a slash means a name
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Resolve(tt.in, refs)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Resolve(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Fatalf("Resolve(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}
