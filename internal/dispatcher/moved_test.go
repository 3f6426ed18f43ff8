package dispatcher

import (
	"context"
	"slices"
	"testing"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/store"
)

// TestTaskMovedAfterLeadershipLeavesItsOldNode moves a task that was
// assigned before this manager started leading: the node it was on must
// be told to drop it, though the move names only the new node. The leader
// learns where each task was from the store when it starts.
func TestTaskMovedAfterLeadershipLeavesItsOldNode(t *testing.T) {
	m := newTestManager(t, Config{}, false)
	from, to := m.addNode(t, ca.WorkerRole), m.addNode(t, ca.WorkerRole)
	m.putTasks(t, assigned("t1", from.ID))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.d.RunLeader(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	fromMsgs, _ := openSession(t, t.Context(), m.client(t, &from), nil)
	if got := taskIDsOf(recv(t, fromMsgs)); !slices.Equal(got, []string{"t1"}) {
		t.Fatalf("first message to the task's node has tasks %v, want [t1]", got)
	}
	toMsgs, _ := openSession(t, t.Context(), m.client(t, &to), nil)
	recv(t, toMsgs)

	m.update(t, func(tx *store.WriteTx) error {
		moved := store.Clone(store.Get[*store.Task](tx.ReadTx, "t1"))
		moved.NodeID = to.ID
		return tx.Put(moved)
	})
	if got := recv(t, fromMsgs); !got.Assignments.Full || len(got.Assignments.Tasks) != 0 {
		t.Errorf("after the move the old node got full %v, tasks %v; want a full set without t1", got.Assignments.Full, taskIDsOf(got))
	}
	if got := taskIDsOf(recv(t, toMsgs)); !slices.Equal(got, []string{"t1"}) {
		t.Errorf("after the move the new node got tasks %v, want [t1]", got)
	}
}

func taskIDsOf(m *SessionMessage) []string {
	var ids []string
	for _, t := range m.Assignments.Tasks {
		ids = append(ids, t.ID)
	}
	return ids
}
