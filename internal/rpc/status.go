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

// Error turns a gRPC status a call returned back into an errdefs error
// of the kind its code stands for, with the status's message, so that
// the caller's API edge answers as the callee would have.
func Error(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	k, ok := kindOfCode[st.Code()]
	if !ok {
		return err
	}
	return &errdefs.Error{Kind: k, Msg: st.Message(), Err: err}
}

// kindOfCode is Code read backwards, with the codes other servers use for
// the same kinds (AlreadyExists, DeadlineExceeded).
var kindOfCode = map[codes.Code]errdefs.Kind{
	codes.InvalidArgument: errdefs.KindInvalid, codes.NotFound: errdefs.KindNotFound,
	codes.Aborted: errdefs.KindConflict, codes.AlreadyExists: errdefs.KindConflict,
	codes.Unavailable: errdefs.KindUnavailable, codes.PermissionDenied: errdefs.KindForbidden,
	codes.FailedPrecondition: errdefs.KindPrecondition, codes.Unauthenticated: errdefs.KindUnauthorized,
	codes.ResourceExhausted: errdefs.KindTooLarge, codes.Unimplemented: errdefs.KindNotImplemented,
	codes.DeadlineExceeded: errdefs.KindUnavailable,
}
