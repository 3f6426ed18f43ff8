// Package dispatcher is the managers' end of the link to the nodes that run
// tasks: each node's agent holds one session to a dispatcher, receives the
// set of tasks assigned to it, sends heartbeats, reports how its tasks
// fare, and publishes its tasks' logs to the log broker that serves
// `docker service logs` (logs.go). The service is hand-written gRPC over
// the JSON codec (package rpc): the messages carry the stored objects as
// they are.
package dispatcher

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/network/view"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// Full method names, as a ca.Policy names them.
const (
	ServiceName            = "shoal.Dispatcher"
	MethodSession          = "/shoal.Dispatcher/Session"
	MethodHeartbeat        = "/shoal.Dispatcher/Heartbeat"
	MethodUpdateTaskStatus = "/shoal.Dispatcher/UpdateTaskStatus"
)

// Policy says who may call the dispatcher: every node with a certificate,
// managers included since they run tasks too; only managers may read
// tasks' logs, as only they serve the Docker API's swarm endpoints. Merge
// it into the cluster port's policy.
func Policy() ca.Policy {
	nodes := []ca.Role{ca.WorkerRole, ca.ManagerRole}
	return ca.Policy{
		MethodSession:          nodes,
		MethodHeartbeat:        nodes,
		MethodUpdateTaskStatus: nodes,
		MethodAttachNetwork:    nodes,
		MethodDetachNetwork:    nodes,
		MethodPruneAttachments: nodes,
		MethodLogSubscriptions: nodes,
		MethodPublishLogs:      nodes,
		MethodSubscribeLogs:    {ca.ManagerRole},
	}
}

// SessionRequest opens a session. Who the node is comes from its
// certificate, never from the request.
type SessionRequest struct {
	Description *swarm.NodeDescription
	// TunnelKey is the node's WireGuard public key, for encrypted
	// overlays; empty when the node has none.
	TunnelKey string `json:",omitempty"`
}

// SessionMessage is what a session streams: the first one as soon as the
// session starts, then one each time something the node acts on changes.
type SessionMessage struct {
	SessionID string
	// Node is the node's object, for its spec (availability, role).
	Node *store.Node
	// Managers are the cluster addresses of the managers, so that the agent
	// can fail over when its manager goes away.
	Managers        []string
	HeartbeatPeriod time.Duration
	// RootCA is what the node must trust and whose certificate it must
	// hold (rootca.Desired): a node that differs renews, and during a root
	// rotation that moves it to the new root.
	RootCA      swarm.TLSInfo
	Assignments AssignmentSet
	// Networks is the node's network view, sent whenever it changed, in
	// a message before the assignments that use it; nil means unchanged.
	Networks *view.Node `json:",omitempty"`
}

// AssignmentSet is tasks assigned to a node, with the secrets and configs
// they use (data included; only those: a node never receives another). A
// Full set is all of them: a task the agent runs that is not in it was
// deleted, and a secret or config the agent holds that is not in it is no
// longer used. Any other set holds the tasks, secrets and configs that are
// new or changed since the message before; the agent keeps the others as
// they were.
//
// A set too large for one message is sent in parts, every one of them
// with More but the last: the agent takes them in together, as one set,
// once the last has arrived. Every part carries Full.
type AssignmentSet struct {
	Full    bool
	More    bool `json:",omitempty"`
	Tasks   []*store.Task
	Secrets []*store.Secret `json:",omitempty"`
	Configs []*store.Config `json:",omitempty"`
}

// HeartbeatRequest says the node of the session is alive.
type HeartbeatRequest struct {
	SessionID string
}

// HeartbeatResponse says when the next heartbeat is due.
type HeartbeatResponse struct {
	Period time.Duration
}

// UpdateTaskStatusRequest reports the status of tasks of the session's node.
type UpdateTaskStatusRequest struct {
	SessionID string
	Updates   []TaskStatusUpdate
}

// TaskStatusUpdate is a task's new status.
type TaskStatusUpdate struct {
	TaskID string
	Status swarm.TaskStatus
}

// UpdateTaskStatusResponse acknowledges an UpdateTaskStatusRequest: its
// updates are committed (or were dropped as stale or unknown).
type UpdateTaskStatusResponse struct{}

// ServiceDesc describes the service to grpc.Server.RegisterService; the
// implementation is a *Dispatcher (see Dispatcher.Register).
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Heartbeat", Handler: rpc.Unary(MethodHeartbeat, (*Dispatcher).Heartbeat)},
		{MethodName: "UpdateTaskStatus", Handler: rpc.Unary(MethodUpdateTaskStatus, (*Dispatcher).UpdateTaskStatus)},
		{MethodName: "AttachNetwork", Handler: rpc.Unary(MethodAttachNetwork, (*Dispatcher).AttachNetwork)},
		{MethodName: "DetachNetwork", Handler: rpc.Unary(MethodDetachNetwork, (*Dispatcher).DetachNetwork)},
		{MethodName: "PruneAttachments", Handler: rpc.Unary(MethodPruneAttachments, (*Dispatcher).PruneAttachments)},
	},
	Streams: append([]grpc.StreamDesc{{
		StreamName:    "Session",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			req := new(SessionRequest)
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			return srv.(*Dispatcher).Session(req, stream)
		},
	}}, logStreams...),
}

// Client calls a dispatcher.
type Client struct {
	cc grpc.ClientConnInterface
}

// NewClient returns a client over cc, a connection made with the JSON codec
// (clusterconn.DialGRPC).
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{cc: cc}
}

// SessionStream receives a session's messages.
type SessionStream struct {
	s grpc.ClientStream
}

// Recv waits for the next message. The session ends with ctx of the
// Session call.
func (s *SessionStream) Recv() (*SessionMessage, error) {
	m := new(SessionMessage)
	if err := s.s.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Session opens a session; it lasts until ctx ends or the stream fails.
func (c *Client) Session(ctx context.Context, req *SessionRequest) (*SessionStream, error) {
	s, err := c.openServerStream(ctx, "Session", MethodSession, req)
	if err != nil {
		return nil, err
	}
	return &SessionStream{s: s}, nil
}

// Heartbeat calls MethodHeartbeat.
func (c *Client) Heartbeat(ctx context.Context, req *HeartbeatRequest) (*HeartbeatResponse, error) {
	out := new(HeartbeatResponse)
	return out, c.cc.Invoke(ctx, MethodHeartbeat, req, out)
}

// UpdateTaskStatus calls MethodUpdateTaskStatus.
func (c *Client) UpdateTaskStatus(ctx context.Context, req *UpdateTaskStatusRequest) error {
	return c.cc.Invoke(ctx, MethodUpdateTaskStatus, req, new(UpdateTaskStatusResponse))
}
