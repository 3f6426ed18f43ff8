package controlapi

import (
	"context"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/manager/allocator"
	"github.com/shoal-project/shoal/internal/registryauth"
	"github.com/shoal-project/shoal/internal/store"
)

// Results of reads share memory with the store: callers may encode them
// and change their top-level fields, never what their pointers reach.

// CreateService validates spec and stores a new service, and returns its
// ID. An empty name gets a generated one, as dockerd does.
func (a *API) CreateService(ctx context.Context, spec swarm.ServiceSpec) (string, error) {
	if spec.Name == "" {
		a.store.View(func(tx store.ReadTx) {
			spec.Name = freeName(func(n string) bool { return len(servicesNamed(tx, n)) > 0 })
		})
	}
	norm, err := normalizeServiceSpec(spec)
	if err != nil {
		return "", err
	}
	id := identity.NewID()
	now := a.now().UTC()
	err = a.store.Update(ctx, func(tx *store.WriteTx) error {
		if len(servicesNamed(tx.ReadTx, norm.Name)) > 0 {
			return nameConflict(norm.Name)
		}
		if err := resolveNetworks(tx.ReadTx, &norm); err != nil {
			return err
		}
		if err := checkReferences(tx.ReadTx, norm); err != nil {
			return err
		}
		if err := checkLimits(tx.ReadTx, norm); err != nil {
			return err
		}
		svc := &store.Service{Service: swarm.Service{ID: id, Spec: norm}, SpecVersion: 1, RegistryAuth: registryauth.FromContext(ctx)}
		if err := setEndpoint(tx.ReadTx, svc, nil); err != nil {
			return err
		}
		if isJob(norm.Mode) {
			// The iteration is the spec version, as the orchestrator marks
			// the run's tasks: a client following the job from the service
			// it reads back must find them.
			svc.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: svc.SpecVersion}, LastExecution: now}
		}
		return tx.Put(svc)
	})
	if err != nil {
		return "", err
	}
	a.log.Info("service created", "service.id", id, "service.name", norm.Name)
	return id, nil
}

func nameConflict(name string) error {
	return rpcError(errdefs.KindConflict, "AlreadyExists", "name conflicts with an existing object: service %s already exists", name)
}

func isJob(m swarm.ServiceMode) bool { return m.ReplicatedJob != nil || m.GlobalJob != nil }

// setEndpoint fills svc.Endpoint from its spec: the resolution mode, the
// published ports, dynamic ones assigned, and the virtual IPs on its
// networks (those it has kept). prev is the endpoint the service had,
// whose dynamic ports are kept.
func setEndpoint(tx store.ReadTx, svc *store.Service, prev []swarm.PortConfig) error {
	ep := swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	if svc.Spec.EndpointSpec != nil {
		ep = clone(*svc.Spec.EndpointSpec)
	}
	var ports []swarm.PortConfig
	if len(ep.Ports) > 0 {
		var err error
		ports, err = publishPorts(ep.Ports, prev, portsInUse(store.All[*store.Service](tx), svc.ID))
		if err != nil {
			return err
		}
	}
	svc.Endpoint = swarm.Endpoint{Spec: ep, Ports: ports, VirtualIPs: svc.Endpoint.VirtualIPs}
	state := allocator.ReadState(tx)
	vips, err := allocator.ServiceVIPs(svc.Spec, svc.Endpoint.VirtualIPs, state.Networks, allocator.NewPools(state))
	if err != nil {
		return err
	}
	svc.Endpoint.VirtualIPs = vips
	return nil
}

// GetService returns the service ref names (ID, name or unique ID
// prefix); insertDefaults fills in Docker's defaults for what the spec
// leaves out.
func (a *API) GetService(ctx context.Context, ref string, insertDefaults bool) (swarm.Service, error) {
	var (
		svc *store.Service
		err error
	)
	a.store.View(func(tx store.ReadTx) { svc, err = findService(tx, ref) })
	if err != nil {
		return swarm.Service{}, err
	}
	out := svc.Service
	if insertDefaults {
		out.Spec = withDefaults(out.Spec)
	}
	return out, nil
}

// ListServices returns the services that pass f (id and name prefixes,
// label, mode, runtime); status adds each one's task counts.
func (a *API) ListServices(ctx context.Context, f filters.Args, status bool) ([]swarm.Service, error) {
	if err := f.Validate("id", "name", "label", "mode", "runtime"); err != nil {
		return nil, err
	}
	out := []swarm.Service{}
	a.store.View(func(tx store.ReadTx) {
		for _, s := range store.All[*store.Service](tx) {
			if !f.Prefix("id", s.ID) || !f.Prefix("name", s.Spec.Name) || !f.Labels("label", s.Spec.Labels) ||
				!f.Exact("mode", modeName(s.Spec.Mode)) || !f.Exact("runtime", string(s.Spec.TaskTemplate.Runtime)) {
				continue
			}
			v := s.Service
			if status {
				st := serviceStatus(s, store.TasksByService(tx, s.ID), nodeUp(tx))
				v.ServiceStatus = &st
			}
			out = append(out, v)
		}
	})
	return out, nil
}

// nodeUp reports whether a node exists and is not down: tasks on other
// nodes do not count as running, as in the docker CLI's own count.
func nodeUp(tx store.ReadTx) func(id string) bool {
	return func(id string) bool {
		n := store.Get[*store.Node](tx, id)
		return n != nil && n.Status.State != swarm.NodeStateDown
	}
}

// Rollback values of UpdateService.
const (
	RollbackNone     = ""
	RollbackPrevious = "previous"
)

// UpdateService replaces the spec of the service ref, which must still be
// at version; rollback "previous" swaps back the previous spec instead
// and ignores spec. The service's version grows with every accepted
// update; its spec version only when the spec changes.
func (a *API) UpdateService(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, rollback string) error {
	return a.updateService(ctx, ref, version, spec, rollback, nil)
}

// updateService is UpdateService; then, when set, checks and changes the
// updated service further in the same transaction, told whether its spec
// changed.
func (a *API) updateService(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, rollback string, then func(svc *store.Service, specChanged bool) error) error {
	var norm swarm.ServiceSpec
	switch rollback {
	case RollbackNone, "none":
		var err error
		if norm, err = normalizeServiceSpec(spec); err != nil {
			return err
		}
	case RollbackPrevious:
	default:
		return errdefs.Invalid("unrecognized rollback option %s", rollback)
	}
	now := a.now().UTC()
	return a.store.Update(ctx, func(tx *store.WriteTx) error {
		cur, err := findService(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		if cur.Version.Index != version {
			return errOutOfSequence
		}
		svc := store.Clone(cur)
		// Credentials not sent again are kept, as dockerd keeps them.
		if auth := registryauth.FromContext(ctx); auth != "" {
			svc.RegistryAuth = auth
		}
		if rollback == RollbackPrevious {
			if svc.PreviousSpec == nil {
				return failedPrecondition("service %s does not have a previous spec", svc.ID)
			}
			cur, prev := svc.Spec, *svc.PreviousSpec
			svc.Spec, svc.PreviousSpec = prev, &cur
			svc.SpecVersion++
			svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
		} else {
			if norm.Name != svc.Spec.Name {
				return rpcError(errdefs.KindNotImplemented, "Unimplemented", "renaming services is not supported")
			}
			if err := checkModeChange(svc.Spec.Mode, norm.Mode); err != nil {
				return err
			}
			if err := resolveNetworks(tx.ReadTx, &norm); err != nil {
				return err
			}
			if sameJSON(svc.Spec, norm) {
				if then != nil {
					if err := then(svc, false); err != nil {
						return err
					}
				}
				// Written all the same, as SwarmKit does: every accepted
				// update gives a new Version.Index and UpdatedAt, which
				// clients read back to see that it took. The spec version
				// stays, so no task is replaced. Sending the same spec
				// again also resumes a paused update.
				svc.UpdateStatus = nil
				return tx.Put(svc)
			}
			prev := svc.Spec
			svc.PreviousSpec, svc.Spec = &prev, norm
			svc.SpecVersion++
			svc.UpdateStatus = nil
		}
		if err := checkReferences(tx.ReadTx, svc.Spec); err != nil {
			return err
		}
		if rollback == RollbackPrevious {
			// The previous spec's networks may be gone since.
			if err := resolveNetworks(tx.ReadTx, &svc.Spec); err != nil {
				return err
			}
		}
		if err := checkLimits(tx.ReadTx, svc.Spec); err != nil {
			return err
		}
		if svc.JobStatus != nil {
			svc.JobStatus.JobIteration.Index = svc.SpecVersion
			svc.JobStatus.LastExecution = now
		}
		if err := setEndpoint(tx.ReadTx, svc, cur.Endpoint.Ports); err != nil {
			return err
		}
		if then != nil {
			if err := then(svc, true); err != nil {
				return err
			}
		}
		return tx.Put(svc)
	})
}

// RemoveService deletes the service ref and marks its tasks for removal
// in the same batch, so they stop even before the orchestrator looks.
func (a *API) RemoveService(ctx context.Context, ref string) error {
	var id string
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		svc, err := findService(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		id = svc.ID
		for _, t := range store.TasksByService(tx.ReadTx, svc.ID) {
			if t.DesiredState == swarm.TaskStateRemove {
				continue
			}
			c := *t
			c.DesiredState = swarm.TaskStateRemove
			if err := tx.Put(&c); err != nil {
				return err
			}
		}
		return tx.Delete(svc)
	})
	if err == nil {
		a.log.Info("service removed", "service.id", id)
	}
	return err
}

// serviceStatus counts a service's tasks as `docker service ls` shows
// them, as SwarmKit's ListServiceStatuses does: DesiredTasks is the
// replica count of a replicated service and the MaxConcurrent of a
// replicated job, whatever has run; for global services and jobs it is the
// tasks of the current run still meant to run (a job's completed ones are
// counted in CompletedTasks instead, so that the CLI's "desired+completed"
// is the job's size). Unlike SwarmKit, tasks on nodes that are not up, and
// tasks being shut down, count for nothing: `docker service ls` would
// otherwise show 4/3 during an update or with a node down.
func serviceStatus(svc *store.Service, tasks []*store.Task, up func(nodeID string) bool) swarm.ServiceStatus {
	var st swarm.ServiceStatus
	m := svc.Spec.Mode
	job := isJob(m)
	global := m.Global != nil || m.GlobalJob != nil
	for _, t := range tasks {
		if svc.JobStatus != nil && (t.JobIteration == nil || t.JobIteration.Index != svc.JobStatus.JobIteration.Index) {
			continue
		}
		onUpNode := t.NodeID != "" && up(t.NodeID)
		completed := t.Status.State == swarm.TaskStateComplete
		if job && completed {
			st.CompletedTasks++
		}
		if t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning && onUpNode {
			st.RunningTasks++
		}
		if global && onUpNode && !completed &&
			(t.DesiredState == swarm.TaskStateRunning || (job && t.DesiredState == swarm.TaskStateComplete)) {
			st.DesiredTasks++
		}
	}
	switch {
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		st.DesiredTasks = *m.Replicated.Replicas
	case m.ReplicatedJob != nil:
		st.DesiredTasks = 1
		if m.ReplicatedJob.MaxConcurrent != nil {
			st.DesiredTasks = *m.ReplicatedJob.MaxConcurrent
		}
	}
	return st
}
