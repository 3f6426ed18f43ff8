package node

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// A part of the leader's work that returns ends the others, so that the
// whole work returns and RunWhileLeader starts it again, instead of a
// leader serving with its dispatcher but no controllers (or the reverse).
func TestRunTogetherEndsWithItsFirstPart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := false
		start := time.Now()
		runTogether(t.Context(),
			func(ctx context.Context) { time.Sleep(time.Second) },
			func(ctx context.Context) { <-ctx.Done(); stopped = true })
		if !stopped || time.Since(start) != time.Second {
			t.Fatalf("runTogether returned after %s with the other part stopped: %v; want after 1s, stopped", time.Since(start), stopped)
		}
	})
}
