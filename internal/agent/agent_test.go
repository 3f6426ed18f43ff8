package agent

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
	"github.com/shoal-project/shoal/internal/store"
)

// byImage scripts tasks by their image, as the cluster helpers name them
// "busybox:<task ID>".
func byImage(scripts map[string]fakeexec.Script) func(*swarm.Task) fakeexec.Script {
	return func(t *swarm.Task) fakeexec.Script { return scripts[t.Spec.ContainerSpec.Image] }
}

func TestTasksRunAndReport(t *testing.T) {
	c := newTestCluster(t)
	states := c.recordStates(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	a := c.addNode(t, byImage(map[string]fakeexec.Script{
		"busybox:exits3": {ExitAfter: 2 * time.Second, ExitCode: 3},
		"busybox:job":    {ExitAfter: time.Second},
		"busybox:nope":   {PrepareErr: fakeexec.NoSuchImage("nope:latest")},
		"busybox:hangs":  {Hang: true},
	}))
	b := c.addNode(t, nil)
	c.startAgent(t, a, m.addr)
	c.startAgent(t, b, m.addr)
	c.assign(t, a.id, "web1", "exits3", "job", "nope", "hangs")
	c.assign(t, b.id, "web2")

	c.eventually(t, "tasks to end or run", func() bool {
		return c.inState(swarm.TaskStateRunning, "web1", "web2")() &&
			c.inState(swarm.TaskStateFailed, "exits3")() &&
			c.inState(swarm.TaskStateComplete, "job")() &&
			c.inState(swarm.TaskStateRejected, "nope")() &&
			c.inState(swarm.TaskStateStarting, "hangs")()
	})
	states.checkForward(t)

	tests := []struct {
		id                string
		wantErr           string
		wantExit, wantPID bool
		exitCode          int
	}{
		{id: "web1", wantPID: true},
		{id: "web2", wantPID: true},
		{id: "exits3", wantErr: "task: non-zero exit (3)", wantExit: true, exitCode: 3},
		{id: "job", wantExit: true},
		{id: "nope", wantErr: "No such image: nope:latest"},
	}
	for _, tt := range tests {
		task := c.task(tt.id)
		if task.Status.Err != tt.wantErr {
			t.Errorf("task %s got error %q, want %q", tt.id, task.Status.Err, tt.wantErr)
		}
		cs := task.Status.ContainerStatus
		if tt.wantPID && (cs == nil || cs.PID == 0 || cs.ContainerID == "") {
			t.Errorf("running task %s got container status %+v, want its container and PID", tt.id, cs)
		}
		if tt.wantExit && (cs == nil || cs.ExitCode != tt.exitCode || cs.PID != 0) {
			t.Errorf("ended task %s got container status %+v, want exit code %d", tt.id, cs, tt.exitCode)
		}
		if task.Status.Timestamp.IsZero() || task.Status.Timestamp.Before(epoch) {
			t.Errorf("task %s got timestamp %v, want one from the agent's clock", tt.id, task.Status.Timestamp)
		}
	}
	// The store's history, as the subscription saw it: the walk in order,
	// maybe with steps merged by batching, never another state.
	c.eventually(t, "the subscription to see exits3 fail", func() bool {
		got := states.of("exits3")
		return len(got) > 0 && got[len(got)-1] == swarm.TaskStateFailed
	})
	walk := []swarm.TaskState{swarm.TaskStateAssigned, swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateStarting, swarm.TaskStateRunning, swarm.TaskStateFailed}
	if got := states.of("exits3"); !isSubsequence(got, walk) {
		t.Errorf("exits3 went through %v, want a subsequence of %v", got, walk)
	}
	if n := c.nodeObject(a.id); n.Status.State != swarm.NodeStateReady || n.Description.Hostname != "node-"+a.id[:6] {
		t.Errorf("node got status %+v, hostname %q; want ready with the executor's hostname", n.Status, n.Description.Hostname)
	}
}

func TestShutdownRemoveAndDelete(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, nil)
	c.startAgent(t, n, m.addr)
	ids := []string{"stop", "remove", "delete", "hangs-then-stop"}
	c.assign(t, n.id, ids[:3]...)
	c.eventually(t, "tasks to run", c.inState(swarm.TaskStateRunning, ids[:3]...))

	c.setDesired(t, swarm.TaskStateShutdown, "stop")
	c.setDesired(t, swarm.TaskStateRemove, "remove")
	c.update(t, func(tx *store.WriteTx) error { return tx.Delete(c.task("delete")) })
	c.eventually(t, "tasks to stop", func() bool {
		_, removedKept := n.exec.Container("remove")
		_, deletedKept := n.exec.Container("delete")
		return c.inState(swarm.TaskStateShutdown, "stop", "remove")() && !removedKept && !deletedKept
	})
	info, ok := n.exec.Container("stop")
	if !ok || info.State != "exited" || info.ExitCode != fakeexec.ExitSIGTERM {
		t.Errorf("stopped task's container got %+v (exists %v), want kept, exited with %d", info, ok, fakeexec.ExitSIGTERM)
	}
	if cs := c.task("stop").Status.ContainerStatus; cs == nil || cs.ExitCode != fakeexec.ExitSIGTERM {
		t.Errorf("stopped task got container status %+v, want exit code %d", cs, fakeexec.ExitSIGTERM)
	}
}

func TestStopTaskThatNeverStarts(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, func(*swarm.Task) fakeexec.Script { return fakeexec.Script{Hang: true} })
	c.startAgent(t, n, m.addr)
	c.assign(t, n.id, "hangs")
	c.eventually(t, "the task to be starting", c.inState(swarm.TaskStateStarting, "hangs"))
	c.setDesired(t, swarm.TaskStateShutdown, "hangs")
	c.eventually(t, "the task to be shut down", c.inState(swarm.TaskStateShutdown, "hangs"))
	if info, _ := n.exec.Container("hangs"); info.Starts != 0 {
		t.Errorf("got %d starts, want 0", info.Starts)
	}
}

// An agent that restarts adopts its tasks: running ones keep running and
// are not started again; one whose process died while no agent watched is
// reported failed with its exit code.
func TestAdoptionAfterRestart(t *testing.T) {
	c := newTestCluster(t)
	states := c.recordStates(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, nil)
	c.startAgent(t, n, m.addr)
	ids := []string{"keeps", "dies"}
	c.assign(t, n.id, ids...)
	c.eventually(t, "tasks to run", c.inState(swarm.TaskStateRunning, ids...))
	before, _ := n.exec.Container("keeps")

	n.stop()
	if err := n.exec.Crash("dies", 2); err != nil {
		t.Fatal(err)
	}
	c.startAgent(t, n, m.addr)
	c.eventually(t, "the dead task to be reported", c.inState(swarm.TaskStateFailed, "dies"))
	if got := c.task("dies").Status.Err; got != "task: non-zero exit (2)" {
		t.Errorf("dead task got error %q, want %q", got, "task: non-zero exit (2)")
	}
	after, _ := n.exec.Container("keeps")
	if after.ID != before.ID || after.Starts != 1 || after.State != "running" {
		t.Errorf("adopted container got %+v, want %s running, started once", after, before.ID)
	}
	if dead, _ := n.exec.Container("dies"); dead.Starts != 1 {
		t.Errorf("dead container got %d starts, want 1 (not restarted)", dead.Starts)
	}
	// The adopted task still obeys: stop it.
	c.setDesired(t, swarm.TaskStateShutdown, "keeps")
	c.eventually(t, "the adopted task to stop", c.inState(swarm.TaskStateShutdown, "keeps"))
	states.checkForward(t)
}

// Status reports are batched: a hundred tasks walking through four states
// each take a handful of store updates, not four hundred.
func TestBatchedStatusUpdates(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, nil)
	c.startAgent(t, n, m.addr)
	c.eventually(t, "the node to be ready", func() bool { return c.nodeObject(n.id).Status.State == swarm.NodeStateReady })
	ids := taskIDs("t", 100)
	c.assign(t, n.id, ids...)
	before := c.proposals.n.Load()
	c.eventually(t, "100 tasks to run", c.inState(swarm.TaskStateRunning, ids...))
	updates := c.proposals.n.Load() - before
	t.Logf("100 tasks to running in %d store updates", updates)
	if updates > 10 {
		t.Errorf("100 tasks took %d store updates, want at most 10", updates)
	}
}

// When its manager goes away the agent moves to another one: its tasks
// keep running, statuses not yet delivered are delivered there, and new
// assignments arrive through the new session.
func TestFailoverToAnotherManager(t *testing.T) {
	c := newTestCluster(t)
	first := c.startManager(t, dispatcher.Config{}, true)
	second := c.startManager(t, dispatcher.Config{}, true)
	addrs := []string{first.addr, second.addr}
	if pickManager(addrs, "") != first.addr {
		first, second = second, first // the agent tries them in sorted order
	}
	n := c.addNode(t, nil)
	c.startAgent(t, n, addrs...)
	c.assign(t, n.id, "before")
	c.eventually(t, "the task to run", c.inState(swarm.TaskStateRunning, "before"))

	// A status the agent holds when the session dies: the process exits,
	// and the clock does not move, so no batch leaves before the manager
	// stops.
	if err := n.exec.Crash("before", 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.agent.rep.len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not notice the process exit")
		}
		time.Sleep(time.Millisecond)
	}
	first.stop()
	c.eventually(t, "the held status to reach the store through the other manager", c.inState(swarm.TaskStateFailed, "before"))

	c.assign(t, n.id, "after")
	c.eventually(t, "a new task to run", c.inState(swarm.TaskStateRunning, "after"))
	if info, _ := n.exec.Container("before"); info.Starts != 1 {
		t.Errorf("task got %d starts, want 1", info.Starts)
	}
}

// A follower refuses the session and names the leader; the agent goes
// there even though it was only told about the follower.
func TestFollowerRedirect(t *testing.T) {
	c := newTestCluster(t)
	leader := c.startManager(t, dispatcher.Config{}, true)
	follower := c.startManager(t, dispatcher.Config{LeaderAddr: func() string { return leader.addr }}, false)
	n := c.addNode(t, nil)
	c.startAgent(t, n, follower.addr)
	c.assign(t, n.id, "t1")
	c.eventually(t, "the task to run through the leader", c.inState(swarm.TaskStateRunning, "t1"))
}

// An agent whose node object is deleted stops, saying so.
func TestNodeRemoved(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, nil)
	n.mayFail = true
	c.startAgent(t, n, m.addr)
	c.assign(t, n.id, "t1")
	c.eventually(t, "the task to run", c.inState(swarm.TaskStateRunning, "t1"))
	c.update(t, func(tx *store.WriteTx) error { return tx.Delete(c.nodeObject(n.id)) })
	c.eventually(t, "the agent to stop", func() bool {
		select {
		case <-n.ended:
			return true
		default:
			return false
		}
	})
	if !errors.Is(n.runErr, ErrNodeRemoved) {
		t.Errorf("Run got %v, want ErrNodeRemoved", n.runErr)
	}
}

// A cluster of many agents in one process.
func TestManyAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("many agents")
	}
	const nodes, perNode = 100, 3
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	var all []string
	for i := range nodes {
		n := c.addNode(t, nil)
		c.startAgent(t, n, m.addr)
		ids := taskIDs(fmt.Sprintf("n%03d-", i), perNode)
		c.assign(t, n.id, ids...)
		all = append(all, ids...)
	}
	c.eventually(t, "every task to run", c.inState(swarm.TaskStateRunning, all...))
	var missing []string
	for _, id := range all {
		if cs := c.task(id).Status.ContainerStatus; cs == nil || cs.PID == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("running tasks without a container's PID: %v", missing)
	}
}

func isSubsequence(sub, seq []swarm.TaskState) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}
