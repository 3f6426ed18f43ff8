package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Task logs (docker service logs), as SwarmKit's log broker does them,
// simplified. Agents publish, managers subscribe, the leader's dispatcher
// brokers:
//
//   - A manager that serves `docker service logs` calls SubscribeLogs on
//     the leader with a selector (a service, or tasks) and the options
//     (follow, tail, since, streams).
//   - The leader picks the selected tasks that have run on a node and
//     pushes a LogSubscription {ID, TaskIDs, Options} to each of those
//     nodes, on the LogSubscriptions stream the node's agent keeps open
//     beside its session. Tasks on nodes without a session (down) are
//     skipped, as Docker does.
//   - Each agent reads its tasks' container logs (tail, since and streams
//     applied there) and streams the lines back on a PublishLogs stream,
//     one per subscription, ending each task with an End marker.
//   - The leader forwards the lines, stamped with the publishing node's ID
//     (from its certificate, never from the message), to the subscriber:
//     in order per task, tasks interleaved. Without follow the call ends
//     once every pushed task has ended. A node whose session ends first,
//     or that sends nothing for the subscription for a few seconds
//     (logSilence: cut off from the leader, its session may last until
//     its heartbeats run out), is given up on: the leader ends its tasks
//     with End markers whose Err says the log is incomplete, as Docker
//     warns of an incomplete log stream. Any message counts as a sign of
//     life, even one without lines. With follow the call watches the
//     store and pushes tasks that start later, and resumes (from after
//     the last line received) the tasks of a node that reconnects, until
//     the subscriber goes away. Then the leader tells the nodes to stop
//     with a Close message.

// Full method names of the log broker's calls.
const (
	MethodSubscribeLogs    = "/shoal.Dispatcher/SubscribeLogs"
	MethodLogSubscriptions = "/shoal.Dispatcher/LogSubscriptions"
	MethodPublishLogs      = "/shoal.Dispatcher/PublishLogs"
)

// Streams of a log line, as Docker's multiplexed streams number them.
const (
	StreamStdout = 1
	StreamStderr = 2
)

// LogSelector names whose logs to read: every task of a service, or
// given tasks.
type LogSelector struct {
	ServiceID string   `json:",omitempty"`
	TaskIDs   []string `json:",omitempty"`
}

// LogOptions are docker logs' options, applied by the node that reads the
// containers' logs.
type LogOptions struct {
	Stdout bool `json:",omitempty"`
	Stderr bool `json:",omitempty"`
	// Follow keeps reading as containers write, and includes tasks that
	// start later, until the subscriber goes away.
	Follow bool `json:",omitempty"`
	// Tail is the number of last lines of each task to send; negative for
	// all of them.
	Tail  int
	Since time.Time `json:",omitempty"` // lines written at or after Since only
}

// SubscribeLogsRequest asks the leader for tasks' logs.
type SubscribeLogsRequest struct {
	Selector LogSelector
	Options  LogOptions
}

// LogMessage is a line of a task's output, or the end of a task's log.
type LogMessage struct {
	TaskID string
	// NodeID is the node that read the line; the leader sets it.
	NodeID string    `json:",omitempty"`
	Stream int       `json:",omitempty"` // StreamStdout or StreamStderr
	Time   time.Time `json:",omitempty"` // when the container wrote the line
	Line   []byte    `json:",omitempty"` // with its newline, if it had one
	// End marks the end of the task's log for this subscription: no line
	// of the task follows. Err, when set, says why the log could not be
	// read, or why it is incomplete (its node went away or fell silent);
	// a task whose container is gone simply ends.
	End bool   `json:",omitempty"`
	Err string `json:",omitempty"`
}

// LogBatch is what SubscribeLogs streams: lines and End markers.
type LogBatch struct {
	Messages []LogMessage
}

// LogSubscriptionsRequest opens a node's stream of log subscriptions, for
// the current session.
type LogSubscriptionsRequest struct {
	SessionID string
}

// LogSubscription asks a node to read tasks' logs, or to stop. A node may
// receive several with the same ID: a followed service's task that
// starts later comes as a new one, naming only that task.
type LogSubscription struct {
	ID      string
	TaskIDs []string `json:",omitempty"`
	Options LogOptions
	// Close ends the subscription: stop reading and publishing.
	Close bool `json:",omitempty"`
}

// PublishLogsMessage carries a node's lines for one subscription; every
// message of a PublishLogs stream names the same subscription.
type PublishLogsMessage struct {
	SessionID      string
	SubscriptionID string
	Messages       []LogMessage
}

// PublishLogsResponse ends a PublishLogs stream.
type PublishLogsResponse struct{}

var logStreams = []grpc.StreamDesc{
	{
		StreamName:    "SubscribeLogs",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			req := new(SubscribeLogsRequest)
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			return srv.(*Dispatcher).SubscribeLogs(req, stream)
		},
	},
	{
		StreamName:    "LogSubscriptions",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			req := new(LogSubscriptionsRequest)
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			return srv.(*Dispatcher).LogSubscriptions(req, stream)
		},
	},
	{
		StreamName:    "PublishLogs",
		ClientStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			return srv.(*Dispatcher).PublishLogs(stream)
		},
	},
}

// streamDesc returns the description of the service's stream named name.
func streamDesc(name string) *grpc.StreamDesc {
	for i := range ServiceDesc.Streams {
		if ServiceDesc.Streams[i].StreamName == name {
			return &ServiceDesc.Streams[i]
		}
	}
	panic("dispatcher: no stream " + name)
}

// openServerStream sends req on a new server-streaming call.
func (c *Client) openServerStream(ctx context.Context, name, method string, req any) (grpc.ClientStream, error) {
	s, err := c.cc.NewStream(ctx, streamDesc(name), method)
	if err != nil {
		return nil, err
	}
	if err := s.SendMsg(req); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	return s, nil
}

// LogStream receives the batches of a SubscribeLogs call.
type LogStream struct {
	s grpc.ClientStream
}

// Recv waits for the next batch; io.EOF once the logs are complete.
func (s *LogStream) Recv() (*LogBatch, error) {
	b := new(LogBatch)
	if err := s.s.RecvMsg(b); err != nil {
		return nil, err
	}
	return b, nil
}

// SubscribeLogs asks the leader for logs; the call lasts until they are
// complete, or, when following, until ctx ends.
func (c *Client) SubscribeLogs(ctx context.Context, req *SubscribeLogsRequest) (*LogStream, error) {
	s, err := c.openServerStream(ctx, "SubscribeLogs", MethodSubscribeLogs, req)
	if err != nil {
		return nil, err
	}
	return &LogStream{s: s}, nil
}

// SubscriptionStream receives the log subscriptions for a node.
type SubscriptionStream struct {
	s grpc.ClientStream
}

// Recv waits for the next subscription message.
func (s *SubscriptionStream) Recv() (*LogSubscription, error) {
	m := new(LogSubscription)
	if err := s.s.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// LogSubscriptions opens the stream of log subscriptions for the node of
// a session; it lasts as long as the session.
func (c *Client) LogSubscriptions(ctx context.Context, req *LogSubscriptionsRequest) (*SubscriptionStream, error) {
	s, err := c.openServerStream(ctx, "LogSubscriptions", MethodLogSubscriptions, req)
	if err != nil {
		return nil, err
	}
	return &SubscriptionStream{s: s}, nil
}

// PublishStream sends a node's lines for one subscription.
type PublishStream struct {
	s grpc.ClientStream
}

// Send sends a message; it blocks while the leader's subscriber is behind.
func (s *PublishStream) Send(m *PublishLogsMessage) error {
	err := s.s.SendMsg(m)
	if errors.Is(err, io.EOF) {
		// The leader ended the stream; why comes with its status.
		if rerr := s.s.RecvMsg(new(PublishLogsResponse)); rerr != nil {
			return rerr
		}
	}
	return err
}

// CloseAndRecv ends the stream and waits for the leader to take it all.
func (s *PublishStream) CloseAndRecv() error {
	if err := s.s.CloseSend(); err != nil {
		return err
	}
	return s.s.RecvMsg(new(PublishLogsResponse))
}

// PublishLogs opens a stream of lines for a subscription.
func (c *Client) PublishLogs(ctx context.Context) (*PublishStream, error) {
	s, err := c.cc.NewStream(ctx, streamDesc("PublishLogs"), MethodPublishLogs)
	if err != nil {
		return nil, err
	}
	return &PublishStream{s: s}, nil
}

// ReadLogs reads tasks' logs through the leader, asking the manager at
// addr first: a follower's refusal names the leader, which is asked
// instead. dial connects with the caller's manager certificate. It calls
// write with each line, in order per task, and returns once the logs are
// complete, or, following, when ctx ends. Tasks whose logs could not be
// read, or are incomplete, are named in the error, after all the others
// were written.
func ReadLogs(ctx context.Context, dial func(ctx context.Context, addr string) (*grpc.ClientConn, error), addr string,
	req *SubscribeLogsRequest, write func(LogMessage) error) error {
	for tries := 0; ; tries++ {
		wrote := false
		err := readLogsFrom(ctx, dial, addr, req, func(m LogMessage) error {
			wrote = true
			return write(m)
		})
		hint := LeaderHint(err)
		if wrote || hint == "" || hint == addr || tries == 2 {
			return err
		}
		addr = hint
	}
}

func readLogsFrom(ctx context.Context, dial func(ctx context.Context, addr string) (*grpc.ClientConn, error), addr string,
	req *SubscribeLogsRequest, write func(LogMessage) error) error {
	cc, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	stream, err := NewClient(cc).SubscribeLogs(ctx, req)
	if err != nil {
		return fromStatus(err)
	}
	var failed []error
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.Join(failed...)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fromStatus(err)
		}
		for _, m := range b.Messages {
			if m.End {
				if m.Err != "" {
					failed = append(failed, fmt.Errorf("task %s on node %s: %s", m.TaskID, m.NodeID, m.Err))
				}
				continue
			}
			if err := write(m); err != nil {
				return err
			}
		}
	}
}

// fromStatus turns a gRPC status from the leader into an error of the
// matching kind with the leader's message, keeping the status (for
// LeaderHint) underneath.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	kind := errdefs.KindUnavailable
	switch st.Code() {
	case codes.InvalidArgument:
		kind = errdefs.KindInvalid
	case codes.NotFound:
		kind = errdefs.KindNotFound
	case codes.PermissionDenied, codes.Unauthenticated:
		kind = errdefs.KindForbidden
	}
	return &errdefs.Error{Kind: kind, Msg: st.Message(), Err: err}
}
