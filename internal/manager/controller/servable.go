package controller

import (
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/store"
)

// A service the API would refuse today can still be in the store: written
// by an older version, let in by a bug, or made so by a change of the
// cluster's limits. Controllers do not serve it (no task is created,
// moved or updated for it) and go on with the others; the orchestrator
// marks it with the reason, for the operator to fix or remove it.

// Limits returns the limits the cluster's spec sets (the defaults before
// swarm init, or when its label is malformed).
func (s Snapshot) Limits() limits.Limits {
	if s.Cluster == nil {
		return limits.Default()
	}
	l, _ := limits.FromSwarm(s.Cluster.Spec)
	return l
}

// Unservable says why svc cannot be served under the cluster's limits,
// or nil when it can.
func (s Snapshot) Unservable(svc *store.Service) error {
	l := s.Limits()
	if s.verdicts == nil {
		return limits.Service(svc.Spec, l)
	}
	return s.verdicts.check(svc, l)
}

// Verdicts remembers which services can be served, by service version and
// limits, so that a loop's passes encode only the services that changed
// since the pass before. One loop's passes share one; it is not safe for
// concurrent use.
type Verdicts struct {
	byID map[string]verdict
}

type verdict struct {
	index  uint64
	limits limits.Limits
	err    error
}

// Read takes a snapshot of st whose Unservable answers from v.
func (v *Verdicts) Read(st *store.Store) Snapshot {
	s := Read(st)
	if v.byID == nil {
		v.byID = map[string]verdict{}
	}
	// Forget removed services, once they are as many as the living.
	if len(v.byID) > 2*len(s.Services)+16 {
		keep := make(map[string]verdict, len(s.Services))
		for _, svc := range s.Services {
			if vd, ok := v.byID[svc.ID]; ok {
				keep[svc.ID] = vd
			}
		}
		v.byID = keep
	}
	s.verdicts = v
	return s
}

func (v *Verdicts) check(svc *store.Service, l limits.Limits) error {
	if vd, ok := v.byID[svc.ID]; ok && svc.Version.Index != 0 && vd.index == svc.Version.Index && vd.limits == l {
		return vd.err
	}
	err := limits.Service(svc.Spec, l)
	if svc.Version.Index != 0 {
		v.byID[svc.ID] = verdict{index: svc.Version.Index, limits: l, err: err}
	}
	return err
}
