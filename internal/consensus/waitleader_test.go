package consensus_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// TestWaitLeader: a member of a group with a leader returns at once; a
// node in no group waits until its context ends and says no leader was
// elected, rather than letting a new manager serve without one.
func TestWaitLeader(t *testing.T) {
	_, leader := consensustest.NewNode(t)
	bounded, stop := context.WithTimeout(t.Context(), 5*time.Second)
	defer stop()
	if err := leader.WaitLeader(bounded); err != nil {
		t.Fatalf("WaitLeader on a leader: %v", err)
	}

	_, trans := raft.NewInmemTransport("lonely")
	lonely, err := consensus.Open(consensus.Config{Dir: t.TempDir(), LocalID: "lonely", Transport: trans}, store.New())
	if err != nil {
		t.Fatal(err)
	}
	defer lonely.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = lonely.WaitLeader(ctx)
	if !errdefs.Is(err, errdefs.KindUnavailable) || ctx.Err() == nil {
		t.Fatalf("WaitLeader on a node in no group: got %v (context %v), want Unavailable once the context ended", err, ctx.Err())
	}
}
