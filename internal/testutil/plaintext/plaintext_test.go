package plaintext

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var value = []byte(`s3cret <&> "quoted" \ value/`)

// TestFindEveryEncoding writes the value into a file the way encoders do
// and checks Find sees it each time, and never in a file without it.
func TestFindEveryEncoding(t *testing.T) {
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// within wraps the value in bytes before and after, so that it is not
	// aligned to the start of what is encoded.
	within := func(before int) []byte {
		b := make([]byte, before)
		rand.Read(b)
		after := make([]byte, 5)
		rand.Read(after)
		return append(append(b, value...), after...)
	}
	tests := []struct {
		name string
		file []byte
	}{
		{"raw", append([]byte("prefix "), value...)},
		{"JSON []byte", marshal(struct{ Data []byte }{value})},
		{"JSON string", marshal(struct{ S string }{string(value)})},
		{"JSON of a longer []byte, offset 0", marshal(struct{ Data []byte }{within(0)})},
		{"JSON of a longer []byte, offset 1", marshal(struct{ Data []byte }{within(1)})},
		{"JSON of a longer []byte, offset 2", marshal(struct{ Data []byte }{within(5)})},
		{"JSON of JSON", marshal(struct{ Raw string }{string(marshal(struct{ S string }{string(value)}))})},
		{"URL base64 of a longer stream", []byte(base64.RawURLEncoding.EncodeToString(within(4)))},
		{"standard base64, padded", []byte(base64.StdEncoding.EncodeToString(value))},
		{"hex", []byte(hex.EncodeToString(within(3)))},
		{"upper-case hex", []byte(strings.ToUpper(hex.EncodeToString(value)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "f"), tt.file, 0o600); err != nil {
				t.Fatal(err)
			}
			hits, err := Find(dir, value)
			if err != nil || len(hits) == 0 {
				t.Fatalf("Find in %q: got %v, %v; want a hit", tt.file, hits, err)
			}
		})
	}

	t.Run("none of it", func(t *testing.T) {
		dir := t.TempDir()
		noise := make([]byte, 1<<16)
		rand.Read(noise)
		other := []byte(`s3cret <&> "quoted" \ valuf/`)
		content := append(noise, marshal(struct{ Data []byte }{other})...)
		content = append(content, other...)
		if err := os.WriteFile(filepath.Join(dir, "f"), content, 0o600); err != nil {
			t.Fatal(err)
		}
		if hits, err := Find(dir, value); err != nil || len(hits) != 0 {
			t.Fatalf("Find in a file without the value: got %v, %v; want no hit", hits, err)
		}
	})
}

func TestEmbeddedBase64IsInEveryStream(t *testing.T) {
	for before := range 6 {
		stream := make([]byte, before)
		rand.Read(stream)
		stream = append(stream, value...)
		stream = append(stream, 0xff)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			encoded := enc.EncodeToString(stream)
			part := embeddedBase64(enc.WithPadding(base64.NoPadding), value, before%3)
			if !strings.Contains(encoded, string(part)) {
				t.Errorf("value %d bytes into a stream: %q does not contain %q", before, encoded, part)
			}
			if got, want := len(part), len(value)*4/3-1; got < want {
				t.Errorf("value %d bytes into a stream: %d characters, want at least %d", before, got, want)
			}
		}
	}
}
