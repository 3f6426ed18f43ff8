// Package errdefs classifies errors once, by kind, so that the API edge can
// map them to HTTP status codes and the CLI can print messages a person can
// act on.
package errdefs

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind says what sort of failure an error is.
type Kind int

const (
	KindUnknown        Kind = iota
	KindInvalid             // the request is malformed or names a bad value
	KindNotFound            // the object does not exist
	KindConflict            // the object exists already, or its version is stale
	KindUnavailable         // the node cannot serve this now (not a manager, no quorum, locked)
	KindForbidden           // the caller may not do this
	KindPrecondition        // the cluster is not in a state that allows this
	KindUnauthorized        // the credentials given are wrong (a wrong unlock key)
	KindTooLarge            // the request is larger than a documented limit
	KindNotImplemented      // a change the swarm does not make (renaming a service), as SwarmKit's Unimplemented
)

// Error is an error with a kind. Msg is shown to the user as is.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // may be nil
}

func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func newf(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// Invalid reports bad input; the message should name the field.
func Invalid(format string, args ...any) error { return newf(KindInvalid, format, args...) }

// NotFound reports a missing object.
func NotFound(format string, args ...any) error { return newf(KindNotFound, format, args...) }

// Conflict reports a name clash or a stale version.
func Conflict(format string, args ...any) error { return newf(KindConflict, format, args...) }

// Unavailable reports that this node cannot serve the request now.
func Unavailable(format string, args ...any) error { return newf(KindUnavailable, format, args...) }

// Forbidden reports an operation the caller is not allowed to do.
func Forbidden(format string, args ...any) error { return newf(KindForbidden, format, args...) }

// Precondition reports that the cluster's state does not allow the operation.
func Precondition(format string, args ...any) error { return newf(KindPrecondition, format, args...) }

// Unauthorized reports credentials that do not open what they were given
// for.
func Unauthorized(format string, args ...any) error {
	return newf(KindUnauthorized, format, args...)
}

// TooLarge reports a request past a size limit; the message names it.
func TooLarge(format string, args ...any) error { return newf(KindTooLarge, format, args...) }

// KindOf returns the kind of the first classified error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return KindOf(err) == k }

// HTTPStatus maps an error to the status code dockerd would answer with.
func HTTPStatus(err error) int {
	switch KindOf(err) {
	case KindInvalid, KindPrecondition:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindConflict:
		return http.StatusConflict
	case KindUnavailable:
		return http.StatusServiceUnavailable
	case KindForbidden:
		return http.StatusForbidden
	case KindUnauthorized:
		return http.StatusUnauthorized
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindNotImplemented:
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}
