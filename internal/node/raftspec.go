package node

import (
	"context"
	"log/slog"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// followRaftSpec applies the swarm spec's Raft settings (SnapshotInterval,
// LogEntriesForSlowFollowers, KeepOldSnapshots) to this manager's raft
// member when it starts and whenever they change, until ctx ends. Every
// manager snapshots its own log, so every one follows them.
func followRaftSpec(ctx context.Context, rn *consensus.Node, st *store.Store, log *slog.Logger) {
	sub := st.Subscribe()
	defer sub.Close()
	var applied *swarm.RaftConfig
	for {
		var c *store.Cluster
		st.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
		if c != nil && (applied == nil || !sameRaftConfig(*applied, c.Spec.Raft)) {
			r := c.Spec.Raft
			var keep uint64
			if r.KeepOldSnapshots != nil {
				keep = *r.KeepOldSnapshots
			}
			if err := rn.SetLogRetention(r.SnapshotInterval, r.LogEntriesForSlowFollowers, keep); err != nil {
				log.Warn("apply the swarm's raft settings", "err", err)
			} else {
				applied = &r
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sub.Wake():
			sub.Drain()
		}
	}
}

func sameRaftConfig(a, b swarm.RaftConfig) bool {
	keep := func(p *uint64) uint64 {
		if p == nil {
			return 0
		}
		return *p
	}
	return a.SnapshotInterval == b.SnapshotInterval && a.LogEntriesForSlowFollowers == b.LogEntriesForSlowFollowers &&
		keep(a.KeepOldSnapshots) == keep(b.KeepOldSnapshots)
}
