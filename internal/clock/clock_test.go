package clock

import (
	"testing"
	"time"
)

func TestOffset(t *testing.T) {
	t.Cleanup(func() { SetOffset(0) })
	SetOffset(-time.Hour)
	if d := time.Since(Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("an hour back: Now is %v behind, want an hour", d)
	}
	SetOffset(0)
	if d := time.Since(Now()); d < 0 || d > time.Minute {
		t.Fatalf("no offset: Now is %v behind", d)
	}
}
