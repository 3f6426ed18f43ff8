package consensus

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// ReadIndex returns the store index a linearizable read must see, when
// this node leads: every write acknowledged before the call is applied up
// to it. As etcd's ReadIndex, without the log: once a barrier of the
// current term has applied what earlier leaders committed, every
// acknowledged write is in this leader's store (Propose returns only once
// the leader's store applied it), and confirming leadership after taking
// the index rules out a newer leader that acknowledged writes this one
// has not seen. Without a quorum the confirmation fails, and so does the
// read: a manager that cannot reach a quorum cannot tell how old its
// state is.
//
// Reads that arrive while a confirmation is in flight share the next one
// (reads.join), as etcd batches them: one heartbeat round per batch
// rather than per read.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	return n.reads.join().wait(ctx)
}

// confirmRead takes the read index and then confirms leadership: one
// round of reads.
func (n *Node) confirmRead() (uint64, error) {
	if !n.IsLeader() {
		return 0, classify(raft.ErrNotLeader)
	}
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() != term {
		if err := n.raft.Barrier(proposeTimeout).Error(); err != nil {
			return 0, classify(err)
		}
		n.readyTerm.Store(term)
	}
	idx := n.store.Index()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, classify(err)
	}
	if n.raft.CurrentTerm() != term {
		return 0, classify(raft.ErrLeadershipLost)
	}
	return idx, nil
}

// readRounds runs confirm in rounds, one at a time, each shared by every
// read that joined it. A read joins the round that has not started yet,
// never the one in flight: confirm takes the index when its round starts,
// after every read of the round arrived, and confirms leadership after
// that — an index taken, or a confirmation begun, before a read arrived
// would let it miss a write acknowledged just before it.
type readRounds struct {
	confirm func() (uint64, error)

	mu      sync.Mutex
	next    *readRound // the round not started yet; nil when no read waits for one
	running bool       // a goroutine is running rounds
}

// readRound is one confirmation and the reads waiting for it.
type readRound struct {
	done chan struct{} // closed once idx and err are set
	idx  uint64
	err  error
}

// join adds a read to the next round, starting the rounds when none run.
func (rs *readRounds) join() *readRound {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.next == nil {
		rs.next = &readRound{done: make(chan struct{})}
	}
	r := rs.next
	if !rs.running {
		rs.running = true
		go rs.run()
	}
	return r
}

// run confirms rounds until no read waits.
func (rs *readRounds) run() {
	for {
		rs.mu.Lock()
		r := rs.next
		rs.next = nil
		if r == nil {
			rs.running = false
			rs.mu.Unlock()
			return
		}
		rs.mu.Unlock()
		r.idx, r.err = rs.confirm()
		close(r.done)
	}
}

// wait waits for the round's answer, or for ctx to end; the round goes on
// for the other reads in it.
func (r *readRound) wait(ctx context.Context) (uint64, error) {
	select {
	case <-r.done:
		return r.idx, r.err
	case <-ctx.Done():
		return 0, &errdefs.Error{Kind: errdefs.KindUnavailable, Msg: "the swarm does not have a leader: this manager could not confirm its leadership with a quorum of managers", Err: ctx.Err()}
	}
}
