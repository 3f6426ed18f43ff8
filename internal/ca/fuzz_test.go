package ca

import (
	"fmt"
	"math/big"
	"regexp"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FuzzParseJoinToken feeds ParseJoinToken any string a joining node could
// send. A bad token is an Invalid error, never a panic; a good one has a
// SHA-256 digest in hex, and writing it out again gives the token back.
func FuzzParseJoinToken(f *testing.F) {
	f.Add("SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx")
	f.Add("SWMTKN-1-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-1awxwuwd3z9j1z3puu7rcgdbx")
	f.Add("SWMTKN-1-3PU6HSZJAS19XYP7GHGOSYX9K8ATBFCR8P2IS99ZNPY26U2LKL-1awxwuwd3z9j1z3puu7rcgdbx")
	f.Add("SWMTKN-2-x-y")
	f.Add("SWMTKN-1--")
	f.Add("")
	f.Add("SWMKEY-1-abc")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			if errdefs.KindOf(err) != errdefs.KindInvalid {
				t.Fatalf("ParseJoinToken(%q): got %v of kind %v, want Invalid", s, err, errdefs.KindOf(err))
			}
			return
		}
		if !hexDigest.MatchString(tok.RootDigest) {
			t.Fatalf("ParseJoinToken(%q): RootDigest %q is not 64 hex digits", s, tok.RootDigest)
		}
		digest, _ := new(big.Int).SetString(tok.RootDigest, 16)
		again := fmt.Sprintf("%s-%d-%0*s-%s", tokenPrefix, tokenVersion, tokenDigestLen, digest.Text(tokenBase), tok.Secret)
		if again != s {
			t.Fatalf("ParseJoinToken(%q) written out again is %q", s, again)
		}
	})
}
