package controlapi

import (
	"context"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/manager/rebalance"
	"github.com/shoal-project/shoal/internal/store"
)

// MaxReportedMoves bounds the moves RebalanceService lists: planning each
// asks the scheduler once.
const MaxReportedMoves = 100

// RebalanceReport answers a rebalance request (a Shoal extension of the
// Docker API).
type RebalanceReport struct {
	ID     string // the service's ID
	Status store.RebalanceStatus
	// Moves are the first moves the rebalance would make on the current
	// state, at most MaxReportedMoves, in order; empty when the tasks are
	// already spread as the scheduler would spread them.
	Moves []RebalanceMove
}

// RebalanceMove is a task that would be replaced on another node.
type RebalanceMove struct {
	TaskID string
	Slot   int
	From   string // node IDs
	To     string
}

// RebalanceService asks the leader to move the tasks of the replicated
// service ref, batch by batch as its update config says, until they spread
// as the scheduler would place them now (package rebalance). A settled
// service already spread so is left alone and reported completed; asking again
// while a rebalance runs reports its progress, so callers poll with it.
func (a *API) RebalanceService(ctx context.Context, ref string) (RebalanceReport, error) {
	var (
		svc     *store.Service
		moves   []rebalance.Move
		settled bool
		err     error
	)
	// Plan outside the update: it asks the scheduler once per move, and
	// an update holds every other writer back.
	a.store.View(func(tx store.ReadTx) {
		if svc, err = findService(tx, ref); err != nil {
			return
		}
		if svc.Rebalance != nil && svc.Rebalance.State == store.RebalanceActive {
			return
		}
		snap := controller.Snapshot{
			Cluster:  store.TheCluster(tx),
			Nodes:    store.All[*store.Node](tx),
			Services: store.All[*store.Service](tx),
			Tasks:    store.All[*store.Task](tx),
		}
		moves = rebalance.Plan(snap, svc, a.now().UTC(), MaxReportedMoves)
		settled = rebalance.Settled(svc, store.TasksByService(tx, svc.ID))
	})
	if err != nil {
		return RebalanceReport{}, err
	}
	if !rebalance.Rebalanceable(svc) {
		return RebalanceReport{}, errdefs.Invalid("service %s is not a replicated service: a global service runs one task on every node it can, and a job's tasks end by themselves", svc.Spec.Name)
	}
	rep := RebalanceReport{ID: svc.ID}
	if svc.Rebalance != nil && svc.Rebalance.State == store.RebalanceActive {
		rep.Status = *svc.Rebalance
		return rep, nil
	}
	now := a.now().UTC()
	for _, m := range moves {
		rep.Moves = append(rep.Moves, RebalanceMove{TaskID: m.Task.ID, Slot: m.Task.Slot, From: m.From, To: m.To})
	}
	// A service with tasks starting or stopping may need moves once they
	// settle: the rebalance then starts, and the rebalancer waits.
	if len(moves) == 0 && settled {
		rep.Status = store.RebalanceStatus{State: store.RebalanceCompleted, StartedAt: now, CompletedAt: now, Message: "already spread as the scheduler would place them"}
		return rep, nil
	}
	rep.Status = store.RebalanceStatus{State: store.RebalanceActive, StartedAt: now}
	err = a.store.Update(ctx, func(tx *store.WriteTx) error {
		cur := store.Get[*store.Service](tx.ReadTx, svc.ID)
		if cur == nil {
			return errdefs.NotFound("service %s not found", ref)
		}
		c := *cur
		st := rep.Status
		c.Rebalance = &st
		return tx.Put(&c)
	})
	if err != nil {
		return RebalanceReport{}, err
	}
	a.log.Info("service rebalance started", "service.id", svc.ID, "moves", len(moves))
	return rep, nil
}
