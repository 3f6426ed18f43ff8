package controlapi

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// Canary and blue/green deployments are Shoal extensions of the Docker
// API: the updater (package updater) does the work from store.Canary.

// CanaryOptions ask for a service update to be deployed as a canary or
// blue/green deployment.
type CanaryOptions struct {
	// Count is how many tasks of the new spec run beside the old ones
	// until promotion; blue/green runs every slot and ignores it.
	Count     int
	BlueGreen bool `json:",omitempty"`
	// PromoteAfter, when set, promotes the deployment once its new tasks
	// have run healthy this long (after the update's monitor period).
	PromoteAfter time.Duration `json:",omitempty"`
}

// CanaryUpdate is the body of POST /services/{id}/canary: the new spec, as
// POST /services/{id}/update takes it, and how to deploy it.
type CanaryUpdate struct {
	Spec   swarm.ServiceSpec
	Canary CanaryOptions
}

// CanaryStatus answers the canary endpoints: the service's canary, nil
// when it never had one.
type CanaryStatus struct {
	ID     string // the service's ID
	Name   string
	Canary *store.Canary
}

// UpdateServiceCanary replaces the spec of the replicated service ref, which
// must still be at version, as UpdateService does, and deploys it as a
// canary: opts.Count new tasks (every slot for blue/green) start beside
// the old ones and the update waits for PromoteService.
func (a *API) UpdateServiceCanary(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, opts CanaryOptions) error {
	if opts.PromoteAfter < 0 {
		return errdefs.Invalid("canary promote-after %s is negative", opts.PromoteAfter)
	}
	if !opts.BlueGreen && opts.Count < 1 {
		return errdefs.Invalid("a canary needs at least 1 task, not %d", opts.Count)
	}
	now := a.now().UTC()
	return a.updateService(ctx, ref, version, spec, RollbackNone, func(svc *store.Service, specChanged bool) error {
		name := svc.Spec.Name
		if !specChanged {
			return errdefs.Invalid("service %s already runs this spec: a canary deploys a change", name)
		}
		r := svc.Spec.Mode.Replicated
		if r == nil {
			return errdefs.Invalid("service %s is not a replicated service: canary and blue/green deployments run new tasks beside a replicated service's", name)
		}
		replicas := 1
		if r.Replicas != nil {
			replicas = int(min(*r.Replicas, 1<<31))
		}
		count := opts.Count
		if opts.BlueGreen {
			count = replicas
		}
		if count > replicas || count == 0 {
			return errdefs.Invalid("a canary of %d tasks does not fit service %s's %d replicas", count, name, replicas)
		}
		svc.Canary = &store.Canary{
			SpecVersion:  svc.SpecVersion,
			Count:        count,
			BlueGreen:    opts.BlueGreen,
			PromoteAfter: opts.PromoteAfter,
			State:        store.CanaryWaiting,
			StartedAt:    now,
		}
		return nil
	})
}

// PromoteService asks the leader to promote the waiting canary of service
// ref: the rest of the service is rolled to the new spec (a blue/green
// deployment switches once all its new tasks run).
func (a *API) PromoteService(ctx context.Context, ref string) (CanaryStatus, error) {
	var out CanaryStatus
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		cur, err := findService(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		c := cur.Canary
		if c == nil || c.State != store.CanaryWaiting || c.SpecVersion != cur.SpecVersion {
			return errdefs.Precondition("service %s has no canary waiting for promotion", cur.Spec.Name)
		}
		svc := store.Clone(cur)
		svc.Canary.PromoteRequested = true
		out = CanaryStatus{ID: svc.ID, Name: svc.Spec.Name, Canary: svc.Canary}
		return tx.Put(svc)
	})
	if err != nil {
		return CanaryStatus{}, err
	}
	a.log.Info("canary promotion asked", "service.id", out.ID)
	return out, nil
}

// GetCanary returns the canary of service ref.
func (a *API) GetCanary(ctx context.Context, ref string) (CanaryStatus, error) {
	var (
		svc *store.Service
		err error
	)
	a.store.View(func(tx store.ReadTx) { svc, err = findService(tx, ref) })
	if err != nil {
		return CanaryStatus{}, err
	}
	return CanaryStatus{ID: svc.ID, Name: svc.Spec.Name, Canary: svc.Canary}, nil
}
