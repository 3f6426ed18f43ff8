package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// partStream replays session messages, then fails with err.
type partStream struct {
	msgs []*dispatcher.SessionMessage
	err  error
}

func (s *partStream) Recv() (*dispatcher.SessionMessage, error) {
	if len(s.msgs) == 0 {
		return nil, s.err
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

func part(full, more bool, tasks []string, secrets ...string) *dispatcher.SessionMessage {
	set := dispatcher.AssignmentSet{Full: full, More: more}
	for _, id := range tasks {
		set.Tasks = append(set.Tasks, &store.Task{Task: swarm.Task{ID: id}})
	}
	for _, id := range secrets {
		set.Secrets = append(set.Secrets, &store.Secret{Secret: swarm.Secret{ID: id}})
	}
	return &dispatcher.SessionMessage{SessionID: "s", Assignments: set}
}

// summary is a set as "full" or "diff", then its task and secret IDs.
func summary(set dispatcher.AssignmentSet) []string {
	out := []string{"diff"}
	if set.Full {
		out[0] = "full"
	}
	if set.More {
		out = append(out, "more")
	}
	for _, t := range set.Tasks {
		out = append(out, t.ID)
	}
	for _, s := range set.Secrets {
		out = append(out, "secret "+s.ID)
	}
	return out
}

func TestRecvWhole(t *testing.T) {
	broken := errors.New("stream broken")
	tests := []struct {
		name    string
		msgs    []*dispatcher.SessionMessage
		want    [][]string
		wantErr bool
	}{
		{
			name: "a set in one message",
			msgs: []*dispatcher.SessionMessage{part(true, false, []string{"t1"})},
			want: [][]string{{"full", "t1"}},
		},
		{
			name: "a full set in three parts, then a diff",
			msgs: []*dispatcher.SessionMessage{
				part(true, true, []string{"t1", "t2"}),
				part(true, true, []string{"t3"}, "s1"),
				part(true, false, nil, "s2"),
				part(false, false, []string{"t4"}),
			},
			want: [][]string{{"full", "t1", "t2", "t3", "secret s1", "secret s2"}, {"diff", "t4"}},
		},
		{
			name: "a diff in two parts",
			msgs: []*dispatcher.SessionMessage{part(false, true, []string{"t1"}), part(false, false, []string{"t2"})},
			want: [][]string{{"diff", "t1", "t2"}},
		},
		{
			name:    "the stream breaks between parts: nothing of the set is taken in",
			msgs:    []*dispatcher.SessionMessage{part(true, true, []string{"t1"})},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &partStream{msgs: tt.msgs, err: broken}
			var got [][]string
			var err error
			for {
				var m *dispatcher.SessionMessage
				if m, err = recvWhole(s); err != nil {
					break
				}
				got = append(got, summary(m.Assignments))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sets taken in (-want +got):\n%s", diff)
			}
			if tt.wantErr && len(s.msgs) > 0 {
				t.Errorf("got %d messages left unread, want the stream read to its break", len(s.msgs))
			}
		})
	}
}

// Assignment sets too large for one message arrive in parts and are
// taken in whole: a full set in parts does not make the agent forget the
// tasks of its other parts, neither the first set of a session nor one
// sent when a task is deleted.
func TestSplitAssignmentSets(t *testing.T) {
	const limit = 8 << 10
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{MaxMessageSize: limit}, true)
	n := c.addNode(t, nil)
	ids := taskIDs("t", 60)
	c.assign(t, n.id, ids...)
	var size int
	c.st.View(func(tx store.ReadTx) {
		size, _ = limits.EncodedSize(store.TasksByNode(tx, n.id))
	})
	if size < 2*limit {
		t.Fatalf("the tasks encode to %d bytes, want more than two messages of %d", size, limit)
	}
	c.startAgent(t, n, m.addr)
	allRun := func(ids []string) func() bool {
		return func() bool {
			for _, id := range ids {
				info, ok := n.exec.Container(id)
				if !ok || info.State != "running" {
					return false
				}
			}
			return c.inState(swarm.TaskStateRunning, ids...)()
		}
	}
	c.eventually(t, "60 tasks to run", allRun(ids))

	c.update(t, func(tx *store.WriteTx) error { return tx.Delete(c.task(ids[0])) })
	c.eventually(t, "the deleted task's container to go", func() bool {
		_, kept := n.exec.Container(ids[0])
		return !kept
	})
	if !allRun(ids[1:])() {
		for _, id := range ids[1:] {
			if info, ok := n.exec.Container(id); !ok || info.State != "running" {
				t.Errorf("task %s: got container %+v (exists %v), want it running still", id, info, ok)
			}
		}
	}
}

// At the real limit, over real connections: a task that nearly fills a
// message reaches its node and runs; one past any message is rejected
// with the reason, and the node's session, and its other tasks, go on.
func TestTasksAtAndPastTheMessageLimit(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, nil)
	c.startAgent(t, n, m.addr)
	c.eventually(t, "the node to be ready", func() bool { return c.nodeObject(n.id).Status.State == swarm.NodeStateReady })
	sized := func(id string, size int) func(tx *store.WriteTx) error {
		return func(tx *store.WriteTx) error {
			task := &store.Task{Task: swarm.Task{
				ID: id, ServiceID: "svc", NodeID: n.id, DesiredState: swarm.TaskStateRunning,
				Spec:   swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:" + id, Env: []string{"PAD="}}},
				Status: swarm.TaskStatus{State: swarm.TaskStateAssigned, Timestamp: epoch},
			}}
			b, err := limits.EncodedSize(task)
			if err != nil {
				return err
			}
			task.Spec.ContainerSpec.Env = []string{"PAD=" + strings.Repeat("x", size-b)}
			return tx.Put(task)
		}
	}
	c.update(t, sized("near", rpc.MaxMessageSize-4<<10))
	c.update(t, sized("past", rpc.MaxMessageSize+1))
	c.assign(t, n.id, "small")
	c.eventually(t, "the tasks within the limit to run", c.inState(swarm.TaskStateRunning, "near", "small"))
	c.eventually(t, "the task past it to be rejected", c.inState(swarm.TaskStateRejected, "past"))
	if err := c.task("past").Status.Err; !strings.Contains(err, "more than the") {
		t.Errorf("got error %q, want one saying the task is too large to send", err)
	}
	if _, ok := n.exec.Container("past"); ok {
		t.Errorf("the task past the limit got a container, want none")
	}
	c.assign(t, n.id, "after")
	c.eventually(t, "a task assigned afterwards to run", c.inState(swarm.TaskStateRunning, "after"))
}
