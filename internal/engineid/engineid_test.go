package engineid

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

func TestLoadOrCreate(t *testing.T) {
	t.Run("made once and kept", func(t *testing.T) {
		dir := t.TempDir()
		first, err := LoadOrCreate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if u, err := uuid.Parse(first); err != nil || u.Version() != 4 {
			t.Fatalf("got ID %q, want a random (version 4) UUID", first)
		}
		again, err := LoadOrCreate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Errorf("second load: got %q, want the first ID %q", again, first)
		}
		b, err := os.ReadFile(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != first {
			t.Errorf("file holds %q, want %q", b, first)
		}
		fi, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("file mode: got %v, want 0600", fi.Mode().Perm())
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("data root holds %d entries, want only %s", len(entries), FileName)
		}
	})
	t.Run("two data roots, two IDs", func(t *testing.T) {
		a, err := LoadOrCreate(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := LoadOrCreate(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Errorf("two data roots got the same ID %q", a)
		}
	})
	t.Run("an ID written by dockerd is kept as it is", func(t *testing.T) {
		dir := t.TempDir()
		const legacy = "WCZ7:QXFB:3VKF:OIHX:5DXW:MOCI:7M6N:RV2S:SFTJ:6XNA:C5YX:A4GK"
		if err := os.WriteFile(filepath.Join(dir, FileName), []byte(legacy+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := LoadOrCreate(dir); err != nil || got != legacy {
			t.Errorf("got %q, %v, want %q", got, err, legacy)
		}
	})
	t.Run("an empty file gets a new ID", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadOrCreate(dir)
		if err != nil || uuid.Validate(got) != nil {
			t.Fatalf("got %q, %v, want a new UUID", got, err)
		}
	})
	t.Run("an unreadable data root is an error", func(t *testing.T) {
		if _, err := LoadOrCreate(filepath.Join(t.TempDir(), "missing")); err == nil {
			t.Error("got no error for a data root that does not exist")
		}
	})
}
