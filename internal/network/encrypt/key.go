package encrypt

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-project/shoal/internal/atomicfile"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// keySize is the size of a Curve25519 key, private or public.
const keySize = 32

// Key is a node's WireGuard private key. It never leaves the node: only
// Public is meant to be sent anywhere, and printing a Key shows only that.
type Key struct {
	private *ecdh.PrivateKey
}

// LoadOrCreateKey reads the private key at path (base64, as wg genkey
// writes it), or makes a new one and writes it there, readable by the
// owner alone. A key file others may read is refused rather than used: the
// key would no longer be the node's alone.
func LoadOrCreateKey(path string) (Key, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createKey(path)
	case err != nil:
		return Key{}, fmt.Errorf("read tunnel key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("read tunnel key: %w", err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return Key{}, errdefs.Invalid("tunnel key %s has mode %04o: it must be readable by its owner only (0600)", path, mode)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return Key{}, fmt.Errorf("read tunnel key: %w", err)
	}
	raw, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return Key{}, errdefs.Invalid("tunnel key %s: %v", path, err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return Key{}, errdefs.Invalid("tunnel key %s: %v", path, err)
	}
	return Key{private: priv}, nil
}

// createKey makes a key and writes it to path through a temporary file in
// the same directory, so that a crash never leaves a partial key behind.
func createKey(path string) (Key, error) {
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, fmt.Errorf("make tunnel key: %w", err)
	}
	// Clamped as wg genkey clamps, so that the file is exactly what wg(8)
	// would have written; X25519 clamps anyway when it uses the key.
	raw[0] &= 248
	raw[31] = raw[31]&127 | 64
	priv, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return Key{}, fmt.Errorf("make tunnel key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, fmt.Errorf("create tunnel key directory: %w", err)
	}
	data := []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return Key{}, fmt.Errorf("write tunnel key: %w", err)
	}
	return Key{private: priv}, nil
}

// Public is the key's public half, base64 as wg(8) shows it: what other
// nodes need to reach this one.
func (k Key) Public() string {
	if k.private == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.private.PublicKey().Bytes())
}

// String shows only the public half, so that a Key logged by mistake gives
// nothing away.
func (k Key) String() string { return "tunnel key " + k.Public() }

// GoString keeps %#v from printing the private half.
func (k Key) GoString() string { return k.String() }

func (k Key) valid() bool { return k.private != nil }

// hex is the private key as WireGuard's configuration protocol wants it.
func (k Key) hex() string { return hex.EncodeToString(k.private.Bytes()) }

// publicKeyHex checks a base64 public key and returns it as hex, as
// WireGuard's configuration protocol wants it.
func publicKeyHex(s string) (string, error) {
	raw, err := decodeKey(s)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

func decodeKey(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != keySize {
		return nil, fmt.Errorf("want a %d-byte key in base64", keySize)
	}
	return raw, nil
}
