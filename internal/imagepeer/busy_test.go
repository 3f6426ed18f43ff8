package imagepeer

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestAskAgain(t *testing.T) {
	busy := fmt.Errorf("fetch app:v1: %w", &errdefs.Error{Kind: errdefs.KindUnavailable, Msg: "blob sha256:x: the holder says: busy: all 32 serving slots are taken", Err: ErrBusy})
	gone := errdefs.NotFound("the holder no longer has it")
	unavailable := errdefs.Unavailable("the holder says: not a manager")
	bad := errors.New("the holder stopped at 3 of 7 bytes")
	for _, tc := range []struct {
		name string
		errs []error
		want bool
	}{
		{"no tries", nil, false},
		{"every holder busy", []error{busy, busy}, true},
		{"busy, the others gone", []error{gone, busy, gone}, true},
		{"every holder gone", []error{gone, gone}, false},
		{"busy and a bad peer", []error{busy, bad}, false},
		{"unavailable, not busy", []error{unavailable}, false},
		{"a busy message without ErrBusy", []error{errdefs.Unavailable("busy: all 32 serving slots are taken")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := askAgain(tc.errs); got != tc.want {
				t.Errorf("askAgain(%v) = %v, want %v", tc.errs, got, tc.want)
			}
		})
	}
}

func TestBusyBackoff(t *testing.T) {
	for _, tc := range []struct {
		round  int
		jitter float64
		want   time.Duration
	}{
		{0, 0.5, 250 * time.Millisecond},
		{0, 0, 125 * time.Millisecond},
		{0, 0.75, 312500 * time.Microsecond},
		{1, 0.5, 500 * time.Millisecond},
		{2, 0.5, time.Second},
		{3, 0.5, 2 * time.Second},
		{4, 0.5, 2 * time.Second},
		{1000, 0, time.Second},
	} {
		if got := busyBackoff(tc.round, tc.jitter); got != tc.want {
			t.Errorf("busyBackoff(%d, %v) = %v, want %v", tc.round, tc.jitter, got, tc.want)
		}
	}
}
