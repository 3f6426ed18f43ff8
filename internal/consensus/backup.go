package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/store"
)

// State returns the store as store.Save writes it, at a committed index:
// raft snapshots it on its own goroutine, between two applied entries, so
// it is consistent whatever is written meanwhile. It is what a backup
// holds. When nothing was applied since the last snapshot, that snapshot
// is the state.
func (n *Node) State() ([]byte, error) {
	f := n.raft.Snapshot()
	var (
		rc  io.ReadCloser
		err = f.Error()
	)
	switch {
	case err == nil:
		_, rc, err = f.Open()
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		rc, err = n.latestSnapshot()
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: snapshot the state: %w", err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (n *Node) latestSnapshot() (io.ReadCloser, error) {
	list, err := n.snaps.List()
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, errors.New("no snapshot")
	}
	_, rc, err := n.snaps.Open(list[0].ID)
	return rc, err
}

// Seed writes a new raft state in cfg.Dir, which must hold none: one
// snapshot of state (as State returns it) whose only voter is this node,
// reachable at addr, at the index the state was saved at, so that objects
// keep their versions and new changes come after them. Open it
// afterwards: it elects itself and serves state (swarm restore).
func Seed(cfg Config, addr string, state []byte) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st := store.New()
	if err := st.Restore(bytes.NewReader(state)); err != nil {
		return err
	}
	index := st.Index()
	if index == 0 {
		return errors.New("consensus: the state to seed has no raft index")
	}
	ds, err := openDisk(cfg)
	if err != nil {
		return err
	}
	defer ds.bolt.Close()
	if has, err := raft.HasExistingState(ds.logs, ds.bolt, ds.snaps); err != nil || has {
		return fmt.Errorf("consensus: seed %s: it holds raft state already (%v)", cfg.Dir, err)
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer trans.Close()
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(cfg.LocalID),
		Address:  raft.ServerAddress(addr),
	}}}
	// Term 1, as a new group's first entries.
	sink, err := ds.snaps.Create(raft.SnapshotVersionMax, index, 1, conf, index, trans)
	if err != nil {
		return fmt.Errorf("consensus: seed: %w", err)
	}
	if err := snapshot(state).Persist(sink); err != nil {
		return fmt.Errorf("consensus: seed: %w", err)
	}
	return nil
}
