// Package plaintext finds a secret value on disk in any form an encoder
// may have written it in: a test that searched only for the raw bytes
// would pass while the value sits in a file as base64 inside JSON.
package plaintext

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Form is one way the value can be written.
type Form struct {
	Name  string
	Bytes []byte
}

// Forms lists the forms of value a store or a log could hold: the raw
// bytes; standard and URL base64, padded and not; the base64 characters
// the value yields when it starts at each of the three byte offsets a
// longer encoded stream can put it at; lower- and upper-case hex; and the
// value as a JSON string, once or twice over (with Go's HTML escaping and
// without). Forms that are identical are listed once.
func Forms(value []byte) []Form {
	var forms []Form
	seen := map[string]bool{}
	add := func(name string, b []byte) {
		if len(b) == 0 || seen[string(b)] {
			return
		}
		seen[string(b)] = true
		forms = append(forms, Form{Name: name, Bytes: b})
	}
	add("raw", value)
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{
		{"base64", base64.StdEncoding},
		{"base64 unpadded", base64.RawStdEncoding},
		{"URL base64", base64.URLEncoding},
		{"URL base64 unpadded", base64.RawURLEncoding},
	} {
		add(enc.name, []byte(enc.enc.EncodeToString(value)))
	}
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{
		{"base64", base64.RawStdEncoding},
		{"URL base64", base64.RawURLEncoding},
	} {
		for offset := range 3 {
			add(fmt.Sprintf("%s inside a stream at offset %d", enc.name, offset), embeddedBase64(enc.enc, value, offset))
		}
	}
	add("hex", []byte(hex.EncodeToString(value)))
	add("upper-case hex", bytes.ToUpper([]byte(hex.EncodeToString(value))))
	add("JSON string", jsonString(value, true))
	add("JSON string without HTML escaping", jsonString(value, false))
	add("JSON string inside a JSON string", jsonString(jsonString(value, true), true))
	add("JSON string inside a JSON string, without HTML escaping", jsonString(jsonString(value, false), false))
	return forms
}

// embeddedBase64 returns the base64 characters that encode only bits of
// value when value starts offset bytes into a 3-byte group of a longer
// stream: whatever precedes and follows it, the stream's encoding holds
// these characters.
func embeddedBase64(enc *base64.Encoding, value []byte, offset int) []byte {
	padded := append(make([]byte, offset), value...)
	encoded := enc.EncodeToString(padded)
	// Character i covers bits [6i, 6i+6) of the stream; the value's bits
	// are [8·offset, 8·(offset+len)).
	first := (8*offset + 5) / 6
	last := 8 * (offset + len(value)) / 6
	if last <= first {
		return nil
	}
	return []byte(encoded[first:last])
}

func jsonString(value []byte, escapeHTML bool) []byte {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(escapeHTML)
	if err := e.Encode(string(value)); err != nil {
		return nil
	}
	s := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return s[1 : len(s)-1] // without the quotes: the value may be part of a longer string
}

// Hit is a file that holds the value in one of its forms.
type Hit struct {
	Path string
	Form string
}

func (h Hit) String() string { return h.Path + " (" + h.Form + ")" }

// Find lists the regular files under dir that hold value in any of its
// Forms. Files that cannot be read, as sockets cannot, are skipped.
func Find(dir string, value []byte) ([]Hit, error) {
	forms := Forms(value)
	var hits []Hit
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed while we walk
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, f := range forms {
			if bytes.Contains(data, f.Bytes) {
				hits = append(hits, Hit{Path: path, Form: f.Name})
			}
		}
		return nil
	})
	return hits, err
}
