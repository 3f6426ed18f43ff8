package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
)

// never is a time the tests do not reach.
const never = 1000 * time.Hour

// A task with a health check is running for the managers only once it is
// healthy; one that turns unhealthy, before or after, is killed and fails
// with Docker's reason.
func TestHealthGatesRunning(t *testing.T) {
	c := newTestCluster(t)
	states := c.recordStates(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, byImage(map[string]fakeexec.Script{
		"busybox:slow":     {Healthcheck: true, HealthyAfter: time.Hour},
		"busybox:never":    {Healthcheck: true, HealthyAfter: never, UnhealthyAfter: 10 * time.Second},
		"busybox:turns":    {Healthcheck: true},
		"busybox:dies":     {Healthcheck: true, HealthyAfter: never, ExitAfter: 5 * time.Second, ExitCode: 2},
		"busybox:nocheck":  {},
		"busybox:stopping": {Healthcheck: true, HealthyAfter: never},
	}))
	c.startAgent(t, n, m.addr)
	c.assign(t, n.id, "slow", "never", "turns", "dies", "nocheck", "stopping")

	c.eventually(t, "the tasks without a pending check to run", c.inState(swarm.TaskStateRunning, "turns", "nocheck"))
	if got := c.task("slow").Status.State; got != swarm.TaskStateStarting {
		t.Errorf("task slow got state %s before it was healthy, want starting", got)
	}
	c.clock.Advance(time.Hour)
	c.eventually(t, "slow to run once healthy", c.inState(swarm.TaskStateRunning, "slow"))
	c.eventually(t, "never and dies to fail", c.inState(swarm.TaskStateFailed, "never", "dies"))

	if err := n.exec.MakeUnhealthy("turns"); err != nil {
		t.Fatal(err)
	}
	c.eventually(t, "turns to fail", c.inState(swarm.TaskStateFailed, "turns"))
	c.setDesired(t, swarm.TaskStateShutdown, "stopping")
	c.eventually(t, "stopping to shut down while starting", c.inState(swarm.TaskStateShutdown, "stopping"))

	unhealthy := "task: non-zero exit (137): dockerexec: unhealthy container"
	tests := []struct {
		id       string
		wantErr  string
		wantExit int
	}{
		{id: "never", wantErr: unhealthy, wantExit: fakeexec.ExitSIGKILL},
		{id: "turns", wantErr: unhealthy, wantExit: fakeexec.ExitSIGKILL},
		{id: "dies", wantErr: "task: non-zero exit (2)", wantExit: 2},
	}
	for _, tt := range tests {
		task := c.task(tt.id)
		if task.Status.Err != tt.wantErr {
			t.Errorf("task %s got error %q, want %q", tt.id, task.Status.Err, tt.wantErr)
		}
		if cs := task.Status.ContainerStatus; cs == nil || cs.ExitCode != tt.wantExit {
			t.Errorf("task %s got container status %+v, want exit code %d", tt.id, cs, tt.wantExit)
		}
	}
	for _, id := range []string{"never", "dies", "stopping"} {
		if slices.Contains(states.of(id), swarm.TaskStateRunning) {
			t.Errorf("task %s went through %v, want never running: it was never healthy", id, states.of(id))
		}
	}
	states.checkForward(t)
}

// An agent that restarts adopts a task still waiting for its first
// healthy check, and reports it running once it is.
func TestHealthAfterAgentRestart(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	n := c.addNode(t, byImage(map[string]fakeexec.Script{
		"busybox:web": {Healthcheck: true, HealthyAfter: time.Hour},
	}))
	c.startAgent(t, n, m.addr)
	c.assign(t, n.id, "web")
	c.eventually(t, "web to start", c.inState(swarm.TaskStateStarting, "web"))
	n.stop()

	c.startAgent(t, n, m.addr)
	if got := c.task("web").Status.State; got != swarm.TaskStateStarting {
		t.Errorf("web got state %s before it was healthy, want starting", got)
	}
	c.clock.Advance(time.Hour)
	c.eventually(t, "web to run once healthy", c.inState(swarm.TaskStateRunning, "web"))
	if info, _ := n.exec.Container("web"); info.Starts != 1 {
		t.Errorf("web's container got started %d times, want once", info.Starts)
	}
}
