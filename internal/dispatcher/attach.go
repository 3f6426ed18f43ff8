package dispatcher

import (
	"context"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

// Methods of plain containers' network attachments (SwarmKit's
// ResourceAllocator service): a node asks for them over its session, as
// only the leader's dispatcher serves it.
const (
	MethodAttachNetwork    = "/shoal.Dispatcher/AttachNetwork"
	MethodDetachNetwork    = "/shoal.Dispatcher/DetachNetwork"
	MethodPruneAttachments = "/shoal.Dispatcher/PruneAttachments"
)

// Attachments records plain containers' network attachments
// (controlapi.API).
type Attachments interface {
	AttachNetwork(ctx context.Context, nodeID string, req swarmnet.AttachRequest) (*store.Task, error)
	DetachNetwork(ctx context.Context, nodeID, taskID string) error
	PruneAttachments(ctx context.Context, nodeID string, containers []string) (int, error)
}

// AttachNetworkRequest asks for an attachment of one of the session's
// node's containers.
type AttachNetworkRequest struct {
	SessionID string
	swarmnet.AttachRequest
}

// AttachNetworkResponse is the attachment task, with its address.
type AttachNetworkResponse struct {
	Task *store.Task
}

// DetachNetworkRequest removes an attachment task of the session's node.
type DetachNetworkRequest struct {
	SessionID string
	TaskID    string
}

// DetachNetworkResponse acknowledges a DetachNetworkRequest.
type DetachNetworkResponse struct{}

// PruneAttachmentsRequest removes the session's node's attachments of
// containers other than Containers (a restarted daemon's).
type PruneAttachmentsRequest struct {
	SessionID  string
	Containers []string
}

// PruneAttachmentsResponse says how many attachments went.
type PruneAttachmentsResponse struct {
	Removed int
}

// AttachNetwork records an attachment of a container of the caller's
// node; the node comes from its certificate.
func (d *Dispatcher) AttachNetwork(ctx context.Context, req *AttachNetworkRequest) (*AttachNetworkResponse, error) {
	nodeID, err := d.attachmentCaller(ctx, req.SessionID)
	if err != nil {
		return nil, err
	}
	t, err := d.attachments.AttachNetwork(ctx, nodeID, req.AttachRequest)
	if err != nil {
		return nil, toStatus(err)
	}
	return &AttachNetworkResponse{Task: t}, nil
}

// DetachNetwork removes an attachment of the caller's node.
func (d *Dispatcher) DetachNetwork(ctx context.Context, req *DetachNetworkRequest) (*DetachNetworkResponse, error) {
	nodeID, err := d.attachmentCaller(ctx, req.SessionID)
	if err != nil {
		return nil, err
	}
	if err := d.attachments.DetachNetwork(ctx, nodeID, req.TaskID); err != nil {
		return nil, toStatus(err)
	}
	return &DetachNetworkResponse{}, nil
}

// PruneAttachments removes the caller's node's attachments of containers
// it no longer has.
func (d *Dispatcher) PruneAttachments(ctx context.Context, req *PruneAttachmentsRequest) (*PruneAttachmentsResponse, error) {
	nodeID, err := d.attachmentCaller(ctx, req.SessionID)
	if err != nil {
		return nil, err
	}
	n, err := d.attachments.PruneAttachments(ctx, nodeID, req.Containers)
	if err != nil {
		return nil, toStatus(err)
	}
	return &PruneAttachmentsResponse{Removed: n}, nil
}

// errNoAttachments refuses attachments on a dispatcher given no
// Attachments (tests that need none).
var errNoAttachments = errdefs.Unavailable("this manager records no network attachments")

// attachmentCaller is the node of a call on attachments, which must hold
// the current session.
func (d *Dispatcher) attachmentCaller(ctx context.Context, sessionID string) (string, error) {
	id, _, err := d.caller(ctx)
	if err != nil {
		return "", toStatus(err)
	}
	if err := d.currentSession(id.NodeID, sessionID); err != nil {
		return "", toStatus(err)
	}
	if d.attachments == nil {
		return "", toStatus(errNoAttachments)
	}
	return id.NodeID, nil
}

// AttachNetwork calls MethodAttachNetwork.
func (c *Client) AttachNetwork(ctx context.Context, req *AttachNetworkRequest) (*store.Task, error) {
	out := new(AttachNetworkResponse)
	if err := c.cc.Invoke(ctx, MethodAttachNetwork, req, out); err != nil {
		return nil, err
	}
	return out.Task, nil
}

// DetachNetwork calls MethodDetachNetwork.
func (c *Client) DetachNetwork(ctx context.Context, req *DetachNetworkRequest) error {
	return c.cc.Invoke(ctx, MethodDetachNetwork, req, new(DetachNetworkResponse))
}

// PruneAttachments calls MethodPruneAttachments.
func (c *Client) PruneAttachments(ctx context.Context, req *PruneAttachmentsRequest) (int, error) {
	out := new(PruneAttachmentsResponse)
	if err := c.cc.Invoke(ctx, MethodPruneAttachments, req, out); err != nil {
		return 0, err
	}
	return out.Removed, nil
}
