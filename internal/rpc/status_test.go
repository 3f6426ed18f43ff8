package rpc

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"invalid", errdefs.Invalid("bad field"), codes.InvalidArgument},
		{"not found", errdefs.NotFound("gone"), codes.NotFound},
		{"conflict", errdefs.Conflict("stale"), codes.Aborted},
		{"unavailable", errdefs.Unavailable("later"), codes.Unavailable},
		{"forbidden", errdefs.Forbidden("no"), codes.PermissionDenied},
		{"precondition", errdefs.Precondition("not now"), codes.FailedPrecondition},
		{"unauthorized", errdefs.Unauthorized("wrong key"), codes.Unauthenticated},
		{"unclassified", errors.New("boom"), codes.Internal},
		{"already a status", status.Error(codes.ResourceExhausted, "full"), codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Status(tt.err)
			if status.Code(got) != tt.want || status.Convert(got).Message() != status.Convert(tt.err).Message() {
				t.Errorf("got %v, want code %v with the error's message", got, tt.want)
			}
		})
	}
	if Status(nil) != nil {
		t.Error("Status(nil) is not nil")
	}
}

// Error gives the caller back the kind and the message the callee's
// error had, through the status a call carries.
func TestErrorRoundTrip(t *testing.T) {
	for _, k := range []errdefs.Kind{errdefs.KindInvalid, errdefs.KindNotFound, errdefs.KindConflict, errdefs.KindUnavailable,
		errdefs.KindForbidden, errdefs.KindPrecondition, errdefs.KindUnauthorized, errdefs.KindTooLarge, errdefs.KindNotImplemented} {
		in := &errdefs.Error{Kind: k, Msg: "the callee's words"}
		got := Error(Status(in))
		if errdefs.KindOf(got) != k || got.Error() != "the callee's words" {
			t.Errorf("kind %v: got %v (kind %v), want the same kind and message", k, got, errdefs.KindOf(got))
		}
	}
	if Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
	plain := errors.New("boom")
	if Error(plain) != plain {
		t.Error("an error that is no status is not kept as it is")
	}
}
