// Package rootrotation finishes root CA rotations: while a rotation is
// under way (rootca.Start), it waits until every node that is not down
// reports a certificate of the new root, then makes the new root the only
// one (rootca.Finish). It runs on the leader beside the other controllers.
package rootrotation

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/store"
)

// New returns the loop over st; Run it while this manager leads.
func New(st *store.Store, logger *slog.Logger) *controller.Loop {
	l := &controller.Loop{Name: "rootrotation", Store: st, Logger: logger, Wakes: wakes}
	l.Pass = func(ctx context.Context, _ time.Time) (time.Time, error) {
		return time.Time{}, pass(ctx, st, logger)
	}
	return l
}

// wakes: only nodes (their reported certificates) and the cluster (a
// rotation started) can finish a rotation.
func wakes(ev store.Event) bool {
	switch ev.Object.(type) {
	case *store.Node, *store.Cluster:
		return true
	}
	return false
}

func pass(ctx context.Context, st *store.Store, logger *slog.Logger) error {
	s := controller.Read(st)
	c := s.Cluster
	if c == nil || c.RootRotation == nil {
		return nil
	}
	done, err := rootca.Converged(c, s.Nodes)
	if err != nil || !done {
		return err
	}
	next, err := rootca.Finish(c)
	if err != nil {
		return err
	}
	finished := false
	err = st.Update(ctx, func(tx *store.WriteTx) error {
		// The rotation may have been replaced or cancelled since the read.
		if cur := store.TheCluster(tx.ReadTx); cur == nil || cur.Version.Index != c.Version.Index {
			return nil
		}
		finished = true
		return tx.Put(next)
	})
	if finished && err == nil {
		logger.Info("root CA rotation finished: every node holds a certificate of the new root", "nodes", len(s.Nodes))
	}
	return err
}
