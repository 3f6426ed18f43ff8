package controlapi

import (
	"context"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/store"
)

// ListNodes returns the nodes that pass f: id (prefix), name (hostname
// prefix), label (engine labels), node.label (the node spec's labels),
// role and membership (every stored node is accepted).
func (a *API) ListNodes(ctx context.Context, f filters.Args) ([]swarm.Node, error) {
	if err := f.Validate("id", "name", "label", "node.label", "role", "membership"); err != nil {
		return nil, err
	}
	roles := map[swarm.NodeRole]bool{}
	for _, r := range f.Get("role") {
		switch role := swarm.NodeRole(strings.ToLower(r)); role {
		case swarm.NodeRoleManager, swarm.NodeRoleWorker:
			roles[role] = true
		default:
			if r != "" {
				return nil, errdefs.Invalid("Invalid role filter: '%s'", r)
			}
		}
	}
	members := f.Get("membership")
	for _, m := range members {
		if !strings.EqualFold(m, "accepted") && !strings.EqualFold(m, "pending") {
			return nil, errdefs.Invalid("Invalid membership filter: '%s'", m)
		}
	}
	out := []swarm.Node{}
	if len(members) > 0 && !slices.ContainsFunc(members, func(m string) bool { return strings.EqualFold(m, "accepted") }) {
		return out, nil
	}
	a.store.View(func(tx store.ReadTx) {
		for _, n := range store.All[*store.Node](tx) {
			if !f.Prefix("id", n.ID) || !f.Prefix("name", n.Description.Hostname) ||
				!f.Labels("label", n.Description.Engine.Labels) || !f.Labels("node.label", n.Spec.Labels) ||
				(len(roles) > 0 && !roles[n.Spec.Role]) {
				continue
			}
			out = append(out, n.Node)
		}
	})
	return out, nil
}

// GetNode returns the node ref names: its ID, its hostname or a unique
// ID prefix ("self" is the CLI's to resolve, as with dockerd).
func (a *API) GetNode(ctx context.Context, ref string) (swarm.Node, error) {
	var (
		n   *store.Node
		err error
	)
	a.store.View(func(tx store.ReadTx) { n, err = findNode(tx, ref) })
	if err != nil {
		return swarm.Node{}, err
	}
	return n.Node, nil
}

// normalizeNodeSpec checks a node spec; role and availability are matched
// without regard to case, as dockerd does.
func normalizeNodeSpec(in swarm.NodeSpec) (swarm.NodeSpec, error) {
	spec := clone(in)
	switch r := swarm.NodeRole(strings.ToLower(string(spec.Role))); r {
	case swarm.NodeRoleManager, swarm.NodeRoleWorker:
		spec.Role = r
	default:
		return spec, errdefs.Invalid("invalid Role: %q (Role must be manager or worker)", in.Role)
	}
	switch av := swarm.NodeAvailability(strings.ToLower(string(spec.Availability))); av {
	case swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain:
		spec.Availability = av
	default:
		return spec, errdefs.Invalid("invalid Availability: %q (Availability must be active, pause or drain)", in.Availability)
	}
	return spec, nil
}

// UpdateNode replaces the spec of the node ref, which must still be at
// version. Demoting the last manager, or a manager whose removal from raft
// would leave too few reachable managers for a quorum, is refused.
func (a *API) UpdateNode(ctx context.Context, ref string, version uint64, spec swarm.NodeSpec) error {
	norm, err := normalizeNodeSpec(spec)
	if err != nil {
		return err
	}
	if err := limits.Node(norm); err != nil {
		return err
	}
	return a.store.Update(ctx, func(tx *store.WriteTx) error {
		cur, err := findNode(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		if cur.Version.Index != version {
			return errOutOfSequence
		}
		if cur.Spec.Role == swarm.NodeRoleManager && norm.Role == swarm.NodeRoleWorker && managerCount(tx.ReadTx) <= 1 {
			return failedPrecondition("attempting to demote the last manager of the swarm")
		}
		if cur.Spec.Role == swarm.NodeRoleManager && norm.Role == swarm.NodeRoleWorker && !keepsQuorumWithout(store.All[*store.Node](tx.ReadTx), cur.ID) {
			return failedPrecondition("can't remove member from the raft: this would result in a loss of quorum")
		}
		if sameJSON(cur.Spec, norm) {
			return nil
		}
		n := store.Clone(cur)
		n.Spec = norm
		return tx.Put(n)
	})
}

// keepsQuorumWithout decides whether the raft group keeps a quorum once
// the node id leaves it: the voters are the managers with a ManagerStatus
// (the leader keeps it true from raft), and those reachable after the
// removal must be a majority of the voters left, as SwarmKit's
// CanRemoveMember asks. A manager that is no voter yet changes nothing.
func keepsQuorumWithout(nodes []*store.Node, id string) bool {
	voters, reachable, found := 0, 0, false
	for _, n := range nodes {
		if n.ManagerStatus == nil {
			continue
		}
		voters++
		switch {
		case n.ID == id:
			found = true
		case n.ManagerStatus.Leader || n.ManagerStatus.Reachability == swarm.ReachabilityReachable:
			reachable++
		}
	}
	if !found {
		return true
	}
	return reachable >= (voters-1)/2+1
}

func managerCount(tx store.ReadTx) int {
	count := 0
	for _, n := range store.All[*store.Node](tx) {
		if n.Spec.Role == swarm.NodeRoleManager {
			count++
		}
	}
	return count
}

// RemoveNode deletes the node ref from the swarm. A manager must be
// demoted first; a node that is not down needs force. The node's ID is
// recorded in the cluster's RemovedNodes, so that its certificate gets it
// nothing more; its agent, if it runs, is told and leaves the swarm.
func (a *API) RemoveNode(ctx context.Context, ref string, force bool) error {
	return a.store.Update(ctx, func(tx *store.WriteTx) error {
		n, err := findNode(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		if n.Spec.Role == swarm.NodeRoleManager || n.ManagerStatus != nil {
			return failedPrecondition("node %s is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal", n.ID)
		}
		if !force && n.Status.State == swarm.NodeStateReady {
			return failedPrecondition("node %s is not down and can't be removed", n.ID)
		}
		if c := store.TheCluster(tx.ReadTx); c != nil {
			cl := store.Clone(c)
			cl.RemovedNodes = rememberRemoved(c.RemovedNodes, n.ID, store.MaxRemovedNodes)
			if err := tx.Put(cl); err != nil {
				return err
			}
		}
		return tx.Delete(n)
	})
}

// rememberRemoved appends id to the removed IDs, dropping the oldest
// beyond max.
func rememberRemoved(ids []string, id string, max int) []string {
	out := append(slices.Clone(ids), id)
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}
