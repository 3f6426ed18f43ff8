package encrypt

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestLoadOrCreateKeyCreatesThenLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swarm", "tunnel.key")
	made, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("got key file mode %04o, want 0600", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(string(b), "\n"))
	if err != nil || len(raw) != keySize {
		t.Fatalf("got key file %q, want 32 bytes in base64 and a newline, as wg genkey writes", b)
	}
	if raw[0]&7 != 0 || raw[31]&0xc0 != 0x40 {
		t.Errorf("got an unclamped key %x, want it clamped as wg genkey does", raw)
	}
	loaded, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Public() != made.Public() || loaded.hex() != made.hex() {
		t.Fatalf("got public key %s after loading, want the one made: %s", loaded.Public(), made.Public())
	}
	other, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "tunnel.key"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Public() == made.Public() {
		t.Fatalf("got the same public key %s for two new keys", made.Public())
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tunnel-key-*"))
	if len(leftovers) != 0 {
		t.Errorf("got temporary files %v left behind", leftovers)
	}
}

// TestPublicKey checks the public half against RFC 7748's X25519 test
// vector (section 6.1, Alice's key pair).
func TestPublicKey(t *testing.T) {
	priv, _ := hex.DecodeString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	pub, _ := hex.DecodeString("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	path := filepath.Join(t.TempDir(), "tunnel.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(priv)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Public(), base64.StdEncoding.EncodeToString(pub); got != want {
		t.Fatalf("got public key %s, want %s", got, want)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, k); strings.Contains(s, base64.StdEncoding.EncodeToString(priv)) || strings.Contains(s, hex.EncodeToString(priv)) {
			t.Errorf("got %q printing the key with %s, want no private half", s, verb)
		}
	}
}

func TestLoadOrCreateKeyRefuses(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, keySize)) + "\n"
	for _, tt := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable by the group", good, 0o640, "mode 0640"},
		{"readable by all", good, 0o644, "mode 0644"},
		{"not base64", "not a key\n", 0o600, "want a 32-byte key"},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600, "want a 32-byte key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tunnel.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateKey(path)
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want an Invalid error naming %s and saying %q", err, path, tt.want)
			}
		})
	}
}
