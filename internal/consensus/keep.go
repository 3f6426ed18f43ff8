package consensus

import (
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// keptSnapshots keeps, after each new snapshot, only the newest and as
// many older ones as the swarm's Raft.KeepOldSnapshots asks: the file
// store under it keeps up to limits.MaxKeepOldSnapshots+1, a number fixed
// when it opens, before the store holds the swarm's spec.
type keptSnapshots struct {
	raft.SnapshotStore
	dir  string         // the file store's snapshots directory
	keep *atomic.Uint64 // old snapshots kept beyond the newest
}

// defaultKeepOld is what a member keeps until the swarm's spec says: one
// old snapshot, as Shoal always did.
const defaultKeepOld = 1

func newKeptSnapshots(files raft.SnapshotStore, dir string) *keptSnapshots {
	k := &keptSnapshots{SnapshotStore: files, dir: dir, keep: new(atomic.Uint64)}
	k.keep.Store(defaultKeepOld)
	return k
}

func (k *keptSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := k.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &prunedSink{SnapshotSink: sink, k: k}, nil
}

// prune removes the snapshots past the newest keep+1.
func (k *keptSnapshots) prune() error {
	metas, err := k.List() // newest first
	if err != nil {
		return err
	}
	keep := int(k.keep.Load()) + 1
	for i := keep; i < len(metas); i++ {
		if err := os.RemoveAll(filepath.Join(k.dir, metas[i].ID)); err != nil {
			return err
		}
	}
	return nil
}

// prunedSink prunes old snapshots once the new one is complete.
type prunedSink struct {
	raft.SnapshotSink
	k *keptSnapshots
}

func (s *prunedSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	return s.k.prune()
}
