package ca

import (
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestJoinTokenRoundTrip(t *testing.T) {
	root := newRoot(t)
	s := NewJoinToken(root)
	if !regexp.MustCompile(`^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$`).MatchString(s) {
		t.Fatalf("got token %q, want SWMTKN-1-<50 base36>-<25 base36>", s)
	}
	tok, err := ParseJoinToken(s)
	if err != nil {
		t.Fatalf("ParseJoinToken(%q): %v", s, err)
	}
	if tok.Version != 1 {
		t.Errorf("got version %d, want 1", tok.Version)
	}
	if tok.RootDigest != root.Digest() {
		t.Errorf("got root digest %s, want %s", tok.RootDigest, root.Digest())
	}
	if want := s[len(s)-25:]; tok.Secret != want {
		t.Errorf("got secret %q, want %q", tok.Secret, want)
	}
	if !tok.MatchesRoot(root) {
		t.Error("token does not match its own root")
	}
	if tok.MatchesRoot(newRoot(t)) {
		t.Error("token matches another root")
	}
	if other := NewJoinToken(root); other == s {
		t.Errorf("two tokens for one root share the secret: %q", s)
	}
}

// A digest with leading zero bits must keep its length through base 36 and
// back: the padding on both sides is what makes that work.
func TestJoinTokenSmallDigest(t *testing.T) {
	s := "SWMTKN-1-" + strings.Repeat("0", 49) + "z-" + strings.Repeat("1", 25)
	tok, err := ParseJoinToken(s)
	if err != nil {
		t.Fatalf("ParseJoinToken: %v", err)
	}
	if want := strings.Repeat("0", 62) + "23"; tok.RootDigest != want {
		t.Errorf("got digest %s, want %s", tok.RootDigest, want)
	}
}

func TestParseJoinTokenRejects(t *testing.T) {
	digest := "0" + strings.Repeat("a", 49)
	secret := strings.Repeat("b", 25)
	tests := []struct {
		name, token, wantMsg string
	}{
		{"empty", "", "4 dash-separated parts"},
		{"too few parts", "SWMTKN-1-" + digest, "got 3"},
		{"too many parts", "SWMTKN-1-" + digest + "-" + secret + "-x", "got 5"},
		{"wrong prefix", "SWMTKX-1-" + digest + "-" + secret, `prefix is "SWMTKX"`},
		{"lowercase prefix", "swmtkn-1-" + digest + "-" + secret, "prefix"},
		{"wrong version", "SWMTKN-2-" + digest + "-" + secret, `version is "2"`},
		{"digest too short", "SWMTKN-1-" + digest[1:] + "-" + secret, "digest is 49 characters, want 50"},
		{"digest too long", "SWMTKN-1-" + digest + "0-" + secret, "digest is 51 characters, want 50"},
		{"secret too short", "SWMTKN-1-" + digest + "-" + secret[1:], "secret is 24 characters, want 25"},
		{"secret too long", "SWMTKN-1-" + digest + "-" + secret + "c", "secret is 26 characters, want 25"},
		{"digest not base36", "SWMTKN-1-" + strings.Repeat("A", 50) + "-" + secret, "not a base-36 SHA-256"},
		{"digest over 256 bits", "SWMTKN-1-" + strings.Repeat("z", 50) + "-" + secret, "not a base-36 SHA-256"},
		{"secret not base36", "SWMTKN-1-" + digest + "-" + strings.Repeat("_", 25), "secret is not base 36"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJoinToken(tt.token)
			if !errdefs.Is(err, errdefs.KindInvalid) {
				t.Fatalf("got error %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}
