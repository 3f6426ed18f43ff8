package controlapi

import (
	"encoding/base64"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// FuzzParseUnlockKey feeds ParseUnlockKey any key `docker swarm unlock`
// could send. A bad key is an Invalid error, never a panic; a good one
// has key bytes and writing it out again gives the key back.
func FuzzParseUnlockKey(f *testing.F) {
	f.Add(NewUnlockKey())
	f.Add("SWMKEY-1-")
	f.Add("SWMKEY-1-abc=")
	f.Add("SWMKEY-1-" + base64.StdEncoding.EncodeToString([]byte("key")))
	f.Add("swmkey-1-abcd")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseUnlockKey(s)
		if err != nil {
			if errdefs.KindOf(err) != errdefs.KindInvalid {
				t.Fatalf("ParseUnlockKey(%q): got %v of kind %v, want Invalid", s, err, errdefs.KindOf(err))
			}
			return
		}
		if len(key) == 0 {
			t.Fatalf("ParseUnlockKey(%q): no key bytes and no error", s)
		}
		if again := unlockKeyPrefix + base64.RawStdEncoding.EncodeToString(key); again != s {
			t.Fatalf("ParseUnlockKey(%q) written out again is %q", s, again)
		}
	})
}
