// Package consensus replicates the store through hashicorp/raft: a bbolt
// log, file snapshots, and a state machine that applies store batches.
//
// At rest, with Config.DEK set, every log entry's data and every snapshot
// is encrypted with AES-256-GCM under that data-encryption key; raft's
// own bookkeeping (terms, votes, indexes) stays plain. The key itself is
// the caller's to keep — a manager stores it encrypted by the swarm's
// unlock key when autolock is on, which is what locks the raft state.
package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/store"
)

// Config says where a manager keeps its raft state and how it talks.
type Config struct {
	Dir       string // holds raft.db and snapshots/
	LocalID   string // the node ID
	Transport raft.Transport
	Logger    *slog.Logger
	// Tuning, zero for Shoal's defaults: fast failover (DESIGN.md measured
	// a new leader 0.6–1.1 s after the old one stopped with these).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	SnapshotThreshold  uint64
	// DEK, when set, encrypts the log entries' data and the snapshots at
	// rest (DEKSize bytes). A directory written with a key must always be
	// opened with the same one.
	DEK []byte
}

// Node is this manager's member of the raft group.
type Node struct {
	keep  *atomic.Uint64 // old snapshots kept beyond the newest (SetLogRetention)
	id    string
	addr  raft.ServerAddress
	raft  *raft.Raft
	logs  *raftboltdb.BoltStore
	snaps raft.SnapshotStore // decrypts with the DEK, as raft reads them
	store *store.Store
	log   *slog.Logger
	fsm   *fsm
	// readyTerm is the term in which this node, as leader, has applied
	// everything earlier leaders committed (a barrier of its own term).
	readyTerm atomic.Uint64
	reads     *readRounds
}

// Open opens (or creates) the raft state in cfg.Dir and connects it to st:
// committed entries are applied to st, and st's updates are proposed here.
// On a restart the store is rebuilt from the last snapshot and the log.
func Open(cfg Config, st *store.Store) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ds, err := openDisk(cfg)
	if err != nil {
		return nil, err
	}
	rc := raftConfig(cfg)
	f := &fsm{store: st}
	r, err := raft.NewRaft(rc, f, ds.logs, ds.bolt, ds.snaps, cfg.Transport)
	if err != nil {
		ds.bolt.Close()
		return nil, fmt.Errorf("consensus: start raft: %w", err)
	}
	n := &Node{keep: ds.keep, id: cfg.LocalID, addr: cfg.Transport.LocalAddr(), raft: r, logs: ds.bolt, snaps: ds.snaps, store: st, log: cfg.Logger, fsm: f}
	n.reads = &readRounds{confirm: n.confirmRead}
	st.SetProposer(n)
	return n, nil
}

// disk is a raft directory opened: the bbolt file (log and stable store)
// and the snapshots, behind encryption when a DEK is set.
type disk struct {
	bolt  *raftboltdb.BoltStore
	logs  raft.LogStore
	snaps raft.SnapshotStore
	keep  *atomic.Uint64
}

func openDisk(cfg Config) (*disk, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return nil, fmt.Errorf("consensus: open log: %w", err)
	}
	files, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, int(limits.MaxKeepOldSnapshots)+1, hclogFor(cfg.Logger))
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("consensus: open snapshots: %w", err)
	}
	snaps := newKeptSnapshots(files, filepath.Join(cfg.Dir, "snapshots"))
	d := &disk{bolt: bolt, logs: bolt, snaps: snaps, keep: snaps.keep}
	if cfg.DEK != nil {
		s, err := newSealer(cfg.DEK)
		if err != nil {
			bolt.Close()
			return nil, err
		}
		d.logs = &sealedLogs{LogStore: bolt, s: s}
		d.snaps = &sealedSnapshots{SnapshotStore: snaps, s: s}
	}
	return d, nil
}

func raftConfig(cfg Config) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.LocalID)
	rc.HeartbeatTimeout = or(cfg.HeartbeatTimeout, 500*time.Millisecond)
	rc.ElectionTimeout = or(cfg.ElectionTimeout, 500*time.Millisecond)
	// A lease as long as the heartbeat timeout (raft's upper bound): at
	// 250 ms, a loaded 2-core machine applying a 2 MB entry on both
	// followers at once kept them from answering in time and the leader
	// stepped down, failing the write; failover is unchanged, only a
	// partitioned leader notices its loss 250 ms later.
	rc.LeaderLeaseTimeout = or(cfg.LeaderLeaseTimeout, 500*time.Millisecond)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	rc.Logger = hclogFor(cfg.Logger)
	return rc
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// SetLogRetention applies a swarm spec's Raft settings to this member
// while it runs, as SwarmKit does: a snapshot every snapshotInterval
// entries (SnapshotInterval), trailing entries kept after a snapshot for
// slow followers (LogEntriesForSlowFollowers), and old snapshots kept
// beyond the newest (KeepOldSnapshots, at most limits.MaxKeepOldSnapshots).
// Zero intervals leave the current ones.
func (n *Node) SetLogRetention(snapshotInterval, trailing, keepOld uint64) error {
	n.keep.Store(min(keepOld, limits.MaxKeepOldSnapshots))
	rc := n.raft.ReloadableConfig()
	if snapshotInterval > 0 {
		rc.SnapshotThreshold = snapshotInterval
	}
	if trailing > 0 {
		rc.TrailingLogs = trailing
	}
	return n.raft.ReloadConfig(rc)
}

// Bootstrap makes this node the single member of a new raft group. It is
// only valid on a node with no raft state.
func (n *Node) Bootstrap() error {
	f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		ID:      raft.ServerID(n.id),
		Address: n.addr,
	}}})
	return f.Error()
}

// proposeTimeout bounds a proposal when ctx has no deadline: past it, the
// group has no working quorum.
const proposeTimeout = 10 * time.Second

// Propose replicates data and returns once it is committed and applied to
// the local store.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	timeout := proposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	n.fsm.proposing.Store(&proposal{data: data, start: start})
	defer n.fsm.proposing.Store(nil)
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		return classify(err)
	}
	metrics.RaftTransactionLatency.Observe(time.Since(start).Seconds())
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

func classify(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return &errdefs.Error{Kind: errdefs.KindUnavailable, Msg: "this manager is not the leader of the swarm; try again", Err: err}
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return &errdefs.Error{Kind: errdefs.KindUnavailable, Msg: "the swarm does not have a leader: quorum of managers lost, writes are refused until it is restored", Err: err}
	case errors.Is(err, raft.ErrRaftShutdown):
		return &errdefs.Error{Kind: errdefs.KindUnavailable, Msg: "this manager is shutting down", Err: err}
	}
	return fmt.Errorf("consensus: %w", err)
}

// IsLeader reports whether this node leads the group now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's raft address and ID, empty when unknown.
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// Raft exposes the raft group for membership changes.
func (n *Node) Raft() *raft.Raft { return n.raft }

// WaitLeader waits until the group has a leader.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := n.Leader(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return &errdefs.Error{Kind: errdefs.KindUnavailable, Msg: "no raft leader elected", Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// barrierRetry is the pause between failed barriers of a new leader.
const barrierRetry = 100 * time.Millisecond

// untilBarrier runs barrier until it succeeds (true) or ctx ends (false).
// A barrier fails when leadership flapped before it committed; giving up
// would leave a leader that runs nothing when the observer saw it step
// down and back up as one change, so a failure is tried again for as long
// as the term lasts.
func untilBarrier(ctx context.Context, barrier func() error, log *slog.Logger) bool {
	for {
		err := barrier()
		if err == nil {
			return true
		}
		log.Warn("raft barrier before leading; trying again", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(barrierRetry):
		}
	}
}

// workRestartDelay is the pause before a leader's work that returned
// while its term lasts is started again.
const workRestartDelay = time.Second

// leadAction is what RunWhileLeader does after raft's state changed.
type leadAction int

const (
	keepWork    leadAction = iota
	startWork              // became leader: start the work after a barrier
	stopWork               // no longer leader: stop the work
	restartWork            // leads in a newer term than the work's: stop it, start anew
)

// decideLead says what RunWhileLeader does: leading and term are raft's
// now, running and workTerm whether the leader's work runs and the term
// it started in. Observations are read after the fact, so a leader that
// stepped down and won a new election in between shows as leading both
// times: its term is not its work's, and the old term's work (which
// passed no barrier of the new term) is stopped and started again.
func decideLead(leading bool, term uint64, running bool, workTerm uint64) leadAction {
	switch {
	case leading && !running:
		return startWork
	case leading && term != workTerm:
		return restartWork
	case !leading && running:
		return stopWork
	}
	return keepWork
}

// RunWhileLeader runs fn each time this node becomes the leader, with a
// context cancelled when it stops being the leader or ctx ends, once a
// barrier of the term applied what earlier leaders committed. An fn that
// returns while the term lasts is logged and run again: a leader never
// serves without its work. It returns when ctx ends.
func (n *Node) RunWhileLeader(ctx context.Context, fn func(ctx context.Context)) {
	obs := make(chan raft.Observation, 16)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.RaftState)
		return ok
	})
	n.raft.RegisterObserver(o)
	defer n.raft.DeregisterObserver(o)

	var stop context.CancelFunc
	var workTerm uint64
	done := make(chan struct{})
	start := func(term uint64) {
		var lctx context.Context
		lctx, stop = context.WithCancel(ctx)
		workTerm = term
		done = make(chan struct{})
		go func(done chan struct{}) {
			defer close(done)
			// Serve only once everything committed by earlier leaders is
			// applied: controllers must decide over the latest state.
			if !untilBarrier(lctx, func() error { return n.raft.Barrier(0).Error() }, n.log) {
				return
			}
			n.log.Info("leading: the leader's work starts", "raft.term", n.raft.CurrentTerm())
			for {
				fn(lctx)
				if lctx.Err() != nil {
					return
				}
				n.log.Error("the leader's work returned while this node leads; starting it again", "raft.term", n.raft.CurrentTerm(), "in", workRestartDelay)
				select {
				case <-lctx.Done():
					return
				case <-time.After(workRestartDelay):
				}
			}
		}(done)
	}
	end := func() {
		if stop != nil {
			// Both lines, with their times, show in a node's log whether
			// a new term's work waited on the last one's to stop.
			n.log.Info("no longer leading: stopping the leader's work")
			since := time.Now()
			stop()
			<-done
			stop = nil
			n.log.Info("no longer leading: the leader's work stopped", "took", time.Since(since).Round(time.Millisecond))
		}
	}
	defer end()
	act := func() {
		term := n.raft.CurrentTerm()
		switch decideLead(n.IsLeader(), term, stop != nil, workTerm) {
		case startWork:
			start(term)
		case stopWork:
			end()
		case restartWork:
			n.log.Warn("leading in a new term with the last term's work running: starting it anew", "raft.term", term, "work.term", workTerm)
			end()
			start(term)
		}
	}
	act()
	for {
		select {
		case <-ctx.Done():
			return
		case <-obs:
			act()
		}
	}
}

// Snapshot forces a snapshot now.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// Shutdown stops raft and closes the log.
func (n *Node) Shutdown() error {
	err := n.raft.Shutdown().Error()
	if cerr := n.logs.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsm applies committed entries to the store.
type fsm struct {
	store *store.Store
	// proposing is the entry this node is proposing, nil when none (the
	// store proposes one at a time), to time its commit.
	proposing atomic.Pointer[proposal]
}

// proposal is an entry being proposed and when it was.
type proposal struct {
	data  []byte
	start time.Time
}

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	start := time.Now()
	// Raft hands the leader's own entry back as the same slice.
	if p := f.proposing.Load(); p != nil && len(p.data) > 0 && len(l.Data) == len(p.data) && &l.Data[0] == &p.data[0] {
		metrics.RaftCommitLatency.Observe(start.Sub(p.start).Seconds())
	}
	err := f.store.ApplyBatch(l.Index, l.Data)
	metrics.RaftApplyLatency.Observe(time.Since(start).Seconds())
	return err
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	var buf bytes.Buffer
	if err := f.store.Save(&buf); err != nil {
		return nil, err
	}
	return snapshot(buf.Bytes()), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.store.Restore(rc)
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}

// hclogFor routes raft's logging into slog, at warning and above: raft's
// info lines are chatty and say nothing a user acts on.
func hclogFor(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Warn,
		Output: slogWriter{l},
	})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(string(bytes.TrimSpace(p)))
	return len(p), nil
}
