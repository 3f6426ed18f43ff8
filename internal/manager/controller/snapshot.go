// Package controller holds what the leader's reconcile loops share: the
// snapshot they decide from, the guarded changes they decide, and the loop
// that applies them whenever the store changes or a timer is due.
//
// A controller is a pure decision function, (Snapshot, now) → []Change,
// plus a Pass that reads the store, calls it and applies the result with
// Apply. Loop runs a Pass level-triggered: events only wake it up, every
// pass re-reads the whole state, so a missed event never loses work.
package controller

import (
	"github.com/shoal-project/shoal/internal/store"
)

// Snapshot is the state the controllers decide from, read in one
// consistent view. Its objects are shared with the store: never modify
// one, copy it.
type Snapshot struct {
	Cluster  *store.Cluster // nil before swarm init
	Nodes    []*store.Node  // ordered by ID
	Services []*store.Service
	Tasks    []*store.Task
	Networks []*store.Network
	// verdicts, when set, answers Unservable from what the loop's
	// earlier passes found.
	verdicts *Verdicts
}

// Read takes a snapshot of st.
func Read(st *store.Store) Snapshot {
	var s Snapshot
	st.View(func(tx store.ReadTx) {
		s = Snapshot{
			Cluster:  store.TheCluster(tx),
			Nodes:    store.All[*store.Node](tx),
			Services: store.All[*store.Service](tx),
			Tasks:    store.All[*store.Task](tx),
			Networks: store.All[*store.Network](tx),
		}
	})
	return s
}

// DefaultTaskHistory is the number of tasks kept per slot when the cluster
// does not say (Docker's default).
const DefaultTaskHistory = 5

// TaskHistory returns the cluster's TaskHistoryRetentionLimit, or Docker's
// default when unset. Negative means keep every task.
func (s Snapshot) TaskHistory() int64 {
	if s.Cluster != nil && s.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit != nil {
		return *s.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit
	}
	return DefaultTaskHistory
}
