package consensus

import (
	"fmt"
	"log/slog"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/store"
)

// Recover rewrites the raft state in cfg.Dir so that this node, reachable
// at addr, is the group's only voter, keeping every committed change
// (swarm init --force-new-cluster on the last manager standing). Raft must
// not be running on cfg.Dir; cfg.Transport is not used. Open it afterwards:
// it elects itself.
func Recover(cfg Config, addr string) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ds, err := openDisk(cfg)
	if err != nil {
		return err
	}
	defer ds.bolt.Close()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer trans.Close()
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(cfg.LocalID),
		Address:  raft.ServerAddress(addr),
	}}}
	// The state machine only carries the data into the new snapshot.
	if err := raft.RecoverCluster(raftConfig(cfg), &fsm{store: store.New()}, ds.logs, ds.bolt, ds.snaps, trans, conf); err != nil {
		return fmt.Errorf("consensus: recover a single-member group: %w", err)
	}
	return nil
}
