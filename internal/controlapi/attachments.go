package controlapi

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/manager/allocator"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

// MessageAttached is the status message of a plain container's network
// attachment task.
const MessageAttached = "attached to a container"

// AttachNetwork gives a plain container of node nodeID an address on an
// attachable overlay network, recorded as a network attachment task of no
// service: the view then lists it as an endpoint, so every node of the
// network reaches it and resolves its name. The address is taken in the
// transaction that records it, as a service's VIP is. A container
// already attached to the network gets its attachment back (the node
// asks again after a lost answer).
func (a *API) AttachNetwork(ctx context.Context, nodeID string, req swarmnet.AttachRequest) (*store.Task, error) {
	var out *store.Task
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		n, err := findNetwork(tx.ReadTx, req.Network)
		if err != nil {
			return err
		}
		if t := attachmentOf(store.TasksByNode(tx.ReadTx, nodeID), req.ContainerID, n.ID); t != nil {
			out = t
			return nil
		}
		pools := allocator.NewPools(allocator.ReadState(tx.ReadTx))
		t, err := AttachmentTask(n, nodeID, req, identity.NewID(), a.now().UTC(), pools)
		if err != nil {
			return err
		}
		out = t
		return tx.Put(t)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// attachmentOf finds the live attachment of container cid to network nid
// among tasks.
func attachmentOf(tasks []*store.Task, cid, nid string) *store.Task {
	for _, t := range tasks {
		if swarmnet.AttachmentContainer(t) == cid && allocator.Holds(t) &&
			slices.ContainsFunc(t.NetworksAttachments, func(at swarm.NetworkAttachment) bool { return at.Network.ID == nid }) {
			return t
		}
	}
	return nil
}

// AttachmentTask decides the attachment task of a plain container: the
// network must be attachable (dockerd's PermissionDenied otherwise), the
// request complete, the address asked for free. It runs from the start:
// no agent runs it, the container already exists.
func AttachmentTask(n *store.Network, nodeID string, req swarmnet.AttachRequest, id string, now time.Time, pools *allocator.Pools) (*store.Task, error) {
	switch {
	case nodeID == "":
		return nil, invalidArgument("an attachment needs the node of the container")
	case req.ContainerID == "":
		return nil, invalidArgument("ContainerID: the container to attach is required")
	case !n.Spec.Attachable || n.Spec.Ingress:
		return nil, rpcError(errdefs.KindForbidden, "PermissionDenied", "network %s not manually attachable", n.Spec.Name)
	}
	for _, al := range req.Aliases {
		if al == "" || len(al) > 253 || strings.ContainsAny(al, " \t\n/:") {
			return nil, invalidArgument("Aliases: %q is not a valid DNS name", al)
		}
	}
	var (
		addr netip.Prefix
		err  error
	)
	if req.Addr.IsValid() {
		addr, err = pools.TakeAddr(n, req.Addr)
	} else {
		addr, err = pools.Take(n)
	}
	if err != nil {
		return nil, err
	}
	t := &store.Task{Task: swarm.Task{
		ID:          id,
		Annotations: swarm.Annotations{Name: req.ContainerName},
		NodeID:      nodeID,
		Spec: swarm.TaskSpec{
			Runtime:               swarmnet.AttachmentRuntime,
			NetworkAttachmentSpec: &swarm.NetworkAttachmentSpec{ContainerID: req.ContainerID},
			Networks:              []swarm.NetworkAttachmentConfig{{Target: n.ID, Aliases: slices.Clone(req.Aliases)}},
		},
		NetworksAttachments: []swarm.NetworkAttachment{{Network: n.Network, Addresses: []netip.Prefix{addr}}},
		Status:              swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateRunning, Message: MessageAttached},
		DesiredState:        swarm.TaskStateRunning,
	}}
	t.CreatedAt, t.UpdatedAt = now, now
	return t, nil
}

// DetachNetwork removes an attachment task of node nodeID: its container
// left the network, stopped or was removed. One already gone is no
// error; another node's or a service's task is not the caller's to
// remove.
func (a *API) DetachNetwork(ctx context.Context, nodeID, taskID string) error {
	return a.store.Update(ctx, func(tx *store.WriteTx) error {
		t := store.Get[*store.Task](tx.ReadTx, taskID)
		if t == nil {
			return nil
		}
		if !swarmnet.IsAttachment(t) || t.NodeID != nodeID {
			return rpcError(errdefs.KindForbidden, "PermissionDenied", "task %s is not a network attachment of this node", taskID)
		}
		return tx.Delete(t)
	})
}

// PruneAttachments removes node nodeID's attachment tasks whose container
// is not among containers: a restarted node lost them (removed while the
// daemon was down, or the answer to a detach lost). It returns how many
// went.
func (a *API) PruneAttachments(ctx context.Context, nodeID string, containers []string) (int, error) {
	removed := 0
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		removed = 0
		for _, t := range StaleAttachments(store.TasksByNode(tx.ReadTx, nodeID), containers) {
			if err := tx.Delete(t); err != nil {
				return err
			}
			removed++
		}
		return nil
	})
	return removed, err
}

// StaleAttachments are the attachment tasks among tasks whose container
// is not among containers.
func StaleAttachments(tasks []*store.Task, containers []string) []*store.Task {
	var out []*store.Task
	for _, t := range tasks {
		if swarmnet.IsAttachment(t) && !slices.Contains(containers, swarmnet.AttachmentContainer(t)) {
			out = append(out, t)
		}
	}
	return out
}
