package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/apiserver"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/store"
)

// Logs asked of a follower reach, through the leader, every node that runs
// the service's tasks, and each node answers for its own. The nodes here
// run simulated containers, which have no logs to read, so each answer is
// that: the error names every task and the node it runs on.
func TestLogsFromFollowerReachEveryNode(t *testing.T) {
	m1, m2, w := newTestNode(t, "m1"), newTestNode(t, "m2"), newTestNode(t, "w")
	m1.init(testSpec())
	m2.join(m1, swarm.NodeRoleManager)
	w.join(m1, swarm.NodeRoleWorker)
	leader := leaderOf(t, m1, m2)
	follower := m1
	if leader == m1 {
		follower = m2
	}
	svc, err := leader.api().CreateService(t.Context(), swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "logs"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
		Mode:         swarm.ServiceMode{Global: &swarm.GlobalService{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	running := map[string]string{} // node ID → task ID
	eventually(t, 30*time.Second, func() string {
		_, mgr, _, _ := leader.node.snapshot()
		clear(running)
		mgr.store.View(func(tx store.ReadTx) {
			for _, tk := range store.TasksByService(tx, svc) {
				if tk.Status.State == swarm.TaskStateRunning {
					running[tk.NodeID] = tk.ID
				}
			}
		})
		if len(running) < 3 {
			return fmt.Sprintf("tasks running on %d nodes, want 3", len(running))
		}
		return ""
	})

	lines := 0
	err = follower.node.Logs(t.Context(), apiserver.LogSelector{ServiceID: svc}, containerdexec.LogOptions{Stdout: true, Stderr: true, Tail: -1},
		func(taskID, nodeID string, stream int, ts time.Time, line []byte) error {
			lines++
			return nil
		})
	if lines != 0 {
		t.Errorf("got %d lines from simulated containers, want none", lines)
	}
	if err == nil {
		t.Fatal("got no error, want each node to say it cannot read logs")
	}
	for nodeID, taskID := range running {
		if want := fmt.Sprintf("task %s on node %s: this node cannot read task logs", taskID, nodeID); !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q, want it to contain %q", err, want)
		}
	}
}
