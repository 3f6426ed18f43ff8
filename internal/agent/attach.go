package agent

import (
	"context"

	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// current is the session the agent holds, for calls made on the node's
// behalf (plain containers' network attachments).
type current struct {
	client *dispatcher.Client
	id     string
}

// setCurrent records the session begun (nil when it ended).
func (a *Agent) setCurrent(c *current) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur = c
	if c != nil {
		close(a.hasSession)
		return
	}
	a.hasSession = make(chan struct{})
}

// currentSession waits for a session with the leader, until ctx ends.
func (a *Agent) currentSession(ctx context.Context) (*current, error) {
	for {
		a.mu.Lock()
		c, wait := a.cur, a.hasSession
		a.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, errdefs.Unavailable("this node has no session with a manager of the swarm: %v", ctx.Err())
		}
	}
}

// AttachNetwork asks the managers for an attachment of a plain container
// to an attachable overlay network.
func (a *Agent) AttachNetwork(ctx context.Context, req swarmnet.AttachRequest) (*store.Task, error) {
	c, err := a.currentSession(ctx)
	if err != nil {
		return nil, err
	}
	t, err := c.client.AttachNetwork(ctx, &dispatcher.AttachNetworkRequest{SessionID: c.id, AttachRequest: req})
	return t, rpc.Error(err)
}

// DetachNetwork removes an attachment the node was given.
func (a *Agent) DetachNetwork(ctx context.Context, taskID string) error {
	c, err := a.currentSession(ctx)
	if err != nil {
		return err
	}
	return rpc.Error(c.client.DetachNetwork(ctx, &dispatcher.DetachNetworkRequest{SessionID: c.id, TaskID: taskID}))
}

// PruneAttachments removes the node's attachments of containers other
// than containers.
func (a *Agent) PruneAttachments(ctx context.Context, containers []string) (int, error) {
	c, err := a.currentSession(ctx)
	if err != nil {
		return 0, err
	}
	n, err := c.client.PruneAttachments(ctx, &dispatcher.PruneAttachmentsRequest{SessionID: c.id, Containers: containers})
	return n, rpc.Error(err)
}
