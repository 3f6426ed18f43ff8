package agent

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
)

// A task told to shut down while its node had no session (the node was
// marked down, its manager gone) stops once the node's agent opens a new
// session: the first message carries the new desired state.
func TestShutdownWhileDisconnected(t *testing.T) {
	c := newTestCluster(t)
	first := c.startManager(t, dispatcher.Config{}, true)
	second := c.startManager(t, dispatcher.Config{}, true)
	addrs := []string{first.addr, second.addr}
	if pickManager(addrs, "") != first.addr {
		first, second = second, first
	}
	n := c.addNode(t, nil)
	c.startAgent(t, n, addrs...)
	c.assign(t, n.id, "t1")
	c.eventually(t, "the task to run", c.inState(swarm.TaskStateRunning, "t1"))
	first.stop()
	c.setDesired(t, swarm.TaskStateShutdown, "t1")
	c.eventually(t, "the task to shut down through the other manager", c.inState(swarm.TaskStateShutdown, "t1"))
}
