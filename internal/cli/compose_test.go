package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
)

// TestComposeFlagsBeforeSubcommand checks that Compose's project flags,
// given between `compose` and its subcommand as docker compose takes them,
// reach Compose, and that it writes to the CLI's streams.
func TestComposeFlagsBeforeSubcommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: busybox\n  db:\n    image: busybox\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := shoal(t, fakeapi.New(t), "", "compose", "-f", file, "-p", "shop", "config", "--format", "json")
	if r.err != nil {
		t.Fatalf("compose -f -p config: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{`"name": "shop"`, `"web"`, `"db"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("compose config lacks %s:\n%s", want, r.stdout)
		}
	}
}

// TestComposeBadFileIsAnError: a file compose-go's loader panics on (a
// secret's target left empty) gets an error naming the slip, not a crash.
func TestComposeBadFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: busybox\n    secrets:\n      - source: token\n        target:\nsecrets:\n  token:\n    file: ./token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := shoal(t, fakeapi.New(t), "", "compose", "-f", file, "config")
	if r.err == nil || !strings.Contains(r.err.Error()+r.stderr, "secret's or config's target") {
		t.Fatalf("compose config of a secret without a target: err %v, stderr %q", r.err, r.stderr)
	}
}
