package identity

import (
	"regexp"
	"testing"
)

func TestNewIDForm(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-z]{25}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("NewID() = %q, want 25 base-36 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
	if c := NewContainerID(); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(c) {
		t.Fatalf("NewContainerID() = %q, want 64 hex characters", c)
	}
}
