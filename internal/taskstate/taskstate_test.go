package taskstate

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

func TestOrder(t *testing.T) {
	life := []swarm.TaskState{"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running", "complete", "shutdown", "failed", "rejected", "remove", "orphaned"}
	for i := 1; i < len(life); i++ {
		if !Before(life[i-1], life[i]) || Before(life[i], life[i-1]) {
			t.Errorf("%s should come before %s", life[i-1], life[i])
		}
	}
	for _, s := range life {
		if got, want := Terminal(s), Rank(s) > Rank(swarm.TaskStateRunning); got != want {
			t.Errorf("Terminal(%s) = %v, want %v", s, got, want)
		}
	}
	if Terminal(swarm.TaskStateRunning) || !Terminal(swarm.TaskStateComplete) || Rank("bogus") != 0 {
		t.Error("running is not terminal, complete is, and unknown states rank 0")
	}
}
