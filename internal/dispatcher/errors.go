package dispatcher

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// reasonNotLeader marks, in a status's ErrorInfo, a refusal by a manager
// that is not the leader; its metadata names the leader when known.
const (
	reasonNotLeader = "NOT_LEADER"
	errorDomain     = "shoal.Dispatcher"
	leaderKey       = "leader"
)

// notLeaderError refuses a call on a manager that is not the leader.
type notLeaderError struct {
	leader string // the leader's cluster address; "" when unknown
	err    error  // the store's refusal, if that is how it was found
}

func (e *notLeaderError) Error() string {
	msg := "this manager is not the leader of the swarm"
	if e.leader != "" {
		msg += "; the leader is " + e.leader
	}
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *notLeaderError) Unwrap() error { return e.err }

// toStatus turns an error into the gRPC status an agent sees: the
// errdefs kind picks the code, and a refusal by a follower carries the
// leader's address (LeaderHint).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var nl *notLeaderError
	if errors.As(err, &nl) {
		st := status.New(codes.Unavailable, nl.Error())
		if nl.leader == "" {
			return st.Err()
		}
		withLeader, derr := st.WithDetails(&errdetails.ErrorInfo{
			Reason:   reasonNotLeader,
			Domain:   errorDomain,
			Metadata: map[string]string{leaderKey: nl.leader},
		})
		if derr != nil {
			return st.Err()
		}
		return withLeader.Err()
	}
	code := codes.Internal
	switch errdefs.KindOf(err) {
	case errdefs.KindInvalid:
		code = codes.InvalidArgument
	case errdefs.KindNotFound:
		code = codes.NotFound
	case errdefs.KindConflict:
		code = codes.Aborted
	case errdefs.KindUnavailable:
		code = codes.Unavailable
	case errdefs.KindForbidden:
		code = codes.PermissionDenied
	case errdefs.KindPrecondition:
		code = codes.FailedPrecondition
	}
	return status.Error(code, err.Error())
}

// LeaderHint returns the leader's address carried by an error of a call
// that a follower refused, or "" when there is none.
func LeaderHint(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason == reasonNotLeader && info.Domain == errorDomain {
			return info.Metadata[leaderKey]
		}
	}
	return ""
}
