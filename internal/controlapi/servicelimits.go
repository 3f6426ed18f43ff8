package controlapi

import (
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/store"
)

// clusterLimits returns the limits the swarm's spec sets. A malformed
// label (the API refuses one, so it came some other way) leaves the
// defaults, as in the orchestrator.
func clusterLimits(tx store.ReadTx) limits.Limits {
	c := store.TheCluster(tx)
	if c == nil {
		return limits.Default()
	}
	l, _ := limits.FromSwarm(c.Spec)
	return l
}

// checkLimits refuses a service spec the cluster could not serve: too
// many tasks, too large, too many labels (see package limits).
func checkLimits(tx store.ReadTx, spec swarm.ServiceSpec) error {
	return limits.Service(spec, clusterLimits(tx))
}

// checkServicesWithin refuses a swarm spec whose limits are not those of
// cur and would put a stored service past them: the operator lowers a
// service first, and a swarm update never makes one unservable.
func checkServicesWithin(tx store.ReadTx, cur, next swarm.Spec) error {
	was, _ := limits.FromSwarm(cur)
	now, err := limits.FromSwarm(next)
	if err != nil || now == was {
		return err
	}
	for _, s := range store.All[*store.Service](tx) {
		if err := limits.Service(s.Spec, now); err != nil {
			return errdefs.Invalid("service %s would be past the swarm's new limits (%s label, Orchestration.TaskHistoryRetentionLimit): %v", s.Spec.Name, limits.MaxReplicasLabel, err)
		}
	}
	return nil
}
