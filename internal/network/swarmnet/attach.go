package swarmnet

import (
	"net/netip"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

// AttachRequest is what a node asks the managers for when one of its
// plain containers joins an attachable overlay network (docker run
// --network, docker network connect): an address on the network,
// recorded as a task of no service (SwarmKit's network attachment task)
// so that every other node learns the container's name and address.
type AttachRequest struct {
	// Network is the network's ID, name or unique ID prefix.
	Network string
	// ContainerID and ContainerName are the container's; DNS answers
	// the name and Aliases.
	ContainerID   string
	ContainerName string
	Aliases       []string `json:",omitempty"`
	// Addr is the address asked for (--ip); invalid for any free one.
	Addr netip.Addr `json:",omitempty"`
}

// IsAttachment reports whether t is a plain container's network
// attachment, which no service owns and no agent runs.
func IsAttachment(t *store.Task) bool {
	return t.Spec.NetworkAttachmentSpec != nil
}

// AttachmentContainer is the container an attachment task is for.
func AttachmentContainer(t *store.Task) string {
	if t.Spec.NetworkAttachmentSpec == nil {
		return ""
	}
	return t.Spec.NetworkAttachmentSpec.ContainerID
}

// Runtime of attachment tasks, as SwarmKit names it.
const AttachmentRuntime = swarm.RuntimeNetworkAttachment
