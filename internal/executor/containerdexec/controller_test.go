package containerdexec

import (
	"errors"
	"fmt"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestNative checks that errors keep their class whether the client has
// converted them already (its calls) or not (a task's exit channel).
func TestNative(t *testing.T) {
	notFound := status.Error(codes.NotFound, "task abc not found")
	unavail := status.Error(codes.Unavailable, "connection refused")
	for _, tt := range []struct {
		name         string
		err          error
		wantNotFound bool
		wantUnavail  bool
	}{
		{"gRPC NotFound", notFound, true, false},
		{"gRPC NotFound, wrapped", fmt.Errorf("wait: %w", notFound), true, false},
		{"converted NotFound", errgrpc.ToNative(notFound), true, false},
		{"converted NotFound, wrapped", fmt.Errorf("status of abc: %w", errgrpc.ToNative(notFound)), true, false},
		{"gRPC Unavailable", unavail, false, true},
		{"converted Unavailable", errgrpc.ToNative(unavail), false, true},
		{"plain error", errors.New("boom"), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := native(tt.err)
			if cerrdefs.IsNotFound(got) != tt.wantNotFound || cerrdefs.IsUnavailable(got) != tt.wantUnavail {
				t.Errorf("native(%v) = %v: got NotFound %v Unavailable %v, want %v %v",
					tt.err, got, cerrdefs.IsNotFound(got), cerrdefs.IsUnavailable(got), tt.wantNotFound, tt.wantUnavail)
			}
			if unavailable(tt.err) != tt.wantUnavail {
				t.Errorf("unavailable(%v): got %v, want %v", tt.err, !tt.wantUnavail, tt.wantUnavail)
			}
		})
	}
}
