package rpc

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Status turns an error into the gRPC status a caller sees, the errdefs
// kind picking the code. An error that already is a status is kept.
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(Code(errdefs.KindOf(err)), err.Error())
}

// Code is the gRPC code of an errdefs kind.
func Code(k errdefs.Kind) codes.Code {
	switch k {
	case errdefs.KindInvalid:
		return codes.InvalidArgument
	case errdefs.KindNotFound:
		return codes.NotFound
	case errdefs.KindConflict:
		return codes.Aborted
	case errdefs.KindUnavailable:
		return codes.Unavailable
	case errdefs.KindForbidden:
		return codes.PermissionDenied
	case errdefs.KindPrecondition:
		return codes.FailedPrecondition
	case errdefs.KindUnauthorized:
		return codes.Unauthenticated
	case errdefs.KindTooLarge:
		return codes.ResourceExhausted
	case errdefs.KindNotImplemented:
		return codes.Unimplemented
	}
	return codes.Internal
}
