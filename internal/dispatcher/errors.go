package dispatcher

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/rpc"
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

// toStatus turns an error into the gRPC status an agent sees (rpc.Status),
// and a refusal by a follower into one that carries the leader's address
// (LeaderHint).
func toStatus(err error) error {
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
	return rpc.Status(err)
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
