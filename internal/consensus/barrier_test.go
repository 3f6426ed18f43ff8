package consensus

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
)

// A new leader whose barrier fails (leadership flapped while it was
// pending) tries again rather than leading without its controllers, and
// stops trying once its term ends.
func TestUntilBarrier(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	t.Run("retries until the barrier commits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			ok := untilBarrier(t.Context(), func() error {
				calls++
				if calls < 3 {
					return errors.New("leadership lost while committing log")
				}
				return nil
			}, quiet)
			if !ok || calls != 3 {
				t.Fatalf("got ok %v after %d barriers, want true after 3", ok, calls)
			}
		})
	})
	t.Run("gives up when the term ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			calls := 0
			ok := untilBarrier(ctx, func() error {
				if calls++; calls == 2 {
					cancel()
				}
				return errors.New("node is not the leader")
			}, quiet)
			if ok || calls != 2 {
				t.Fatalf("got ok %v after %d barriers, want false once the term ended", ok, calls)
			}
		})
	})
}
