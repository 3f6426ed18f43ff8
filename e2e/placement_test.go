package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// taskRow is one line of docker service ps.
type taskRow struct {
	Name, Node, Desired, State, Error string
}

// serviceTasks lists a service's tasks as docker service ps shows them,
// without truncation.
func serviceTasks(docker func(...string) (string, error), service string) []taskRow {
	out, _ := docker("service", "ps", "--no-trunc", "--format", "{{.Name}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}", service)
	var rows []taskRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 {
			continue
		}
		state, _, _ := strings.Cut(f[3], " ") // "Running 3 seconds ago"
		// docker service ps --no-trunc quotes the error.
		rows = append(rows, taskRow{Name: strings.TrimLeft(f[0], "\\_ "), Node: f[1], Desired: f[2], State: state, Error: strings.Trim(f[4], `"`)})
	}
	return rows
}

// countStates counts a service's tasks by current state.
func countStates(rows []taskRow) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[r.State]++
	}
	return m
}

// waitStates waits until a service's tasks are in exactly these states.
func waitStates(t *testing.T, docker func(...string) (string, error), service string, want map[string]int, timeout time.Duration) []taskRow {
	t.Helper()
	var rows []taskRow
	Eventually(t, timeout, func() string {
		rows = serviceTasks(docker, service)
		if got := countStates(rows); !maps.Equal(got, want) {
			return fmt.Sprintf("service %s tasks by state %v, want %v: %+v", service, got, want, rows)
		}
		return ""
	})
	return rows
}

// pendingWith waits until the service has a pending task whose error is
// want, as docker service ps shows it.
func pendingWith(t *testing.T, docker func(...string) (string, error), service, want string) {
	t.Helper()
	Eventually(t, 60*time.Second, func() string {
		for _, r := range serviceTasks(docker, service) {
			if r.State == "Pending" && r.Error == want {
				return ""
			}
		}
		return fmt.Sprintf("service %s: no pending task with error %q: %+v", service, want, serviceTasks(docker, service))
	})
}

// TestPlacement places real containers on one node by Swarm's rules —
// constraints, max replicas per node, reservations of memory and generic
// resources, memory limits, jobs — then on a local cluster of four nodes
// in two zones: spread preferences, drain, and shoal service rebalance.
func TestPlacement(t *testing.T) {
	t.Run("one node", placementOneNode)
	t.Run("cluster", placementCluster)
}

func placementOneNode(t *testing.T) {
	d := StartDaemon(t, "--node-generic-resource", "gpu=2")
	initSwarm(t, d)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	docker := d.TryDocker

	t.Run("constraint by role", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "mgr", "--constraint", "node.role==manager", "busybox", "sleep", "3600")
		waitReplicas(t, d, "mgr", "1/1")
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "wrk", "--constraint", "node.role==worker", "busybox", "sleep", "3600")
		pendingWith(t, docker, "wrk", "no suitable node (scheduling constraints not satisfied on 1 node)")
	})

	t.Run("constraint by node label, placed once the label is added", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "east", "--constraint", "node.labels.zone==east", "busybox", "sleep", "3600")
		pendingWith(t, docker, "east", "no suitable node (scheduling constraints not satisfied on 1 node)")
		if out := d.Docker("service", "inspect", "east", "--format", "{{.Spec.TaskTemplate.Placement.Constraints}}"); !strings.Contains(out, "node.labels.zone==east") {
			t.Fatalf("service inspect constraints = %q", out)
		}
		self := strings.TrimSpace(d.Docker("info", "--format", "{{.Swarm.NodeID}}"))
		d.Docker("node", "update", "--label-add", "zone=east", self)
		waitReplicas(t, d, "east", "1/1")
	})

	t.Run("max replicas per node leaves the rest pending", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "capped", "--replicas", "3", "--replicas-max-per-node", "2", "busybox", "sleep", "3600")
		rows := waitStates(t, docker, "capped", map[string]int{"Running": 2, "Pending": 1}, 60*time.Second)
		for _, r := range rows {
			if r.State == "Pending" && r.Error != "no suitable node (max replicas per node limit exceed)" {
				t.Fatalf("pending task error %q, want the max replicas explanation", r.Error)
			}
		}
	})

	t.Run("memory reservation larger than the node stays pending", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "hog", "--reserve-memory", "4096g", "busybox", "sleep", "3600")
		pendingWith(t, docker, "hog", "no suitable node (insufficient resources on 1 node)")
	})

	t.Run("generic resources the node advertises", func(t *testing.T) {
		if out := d.Docker("node", "inspect", "self", "--format", "{{json .Description.Resources.GenericResources}}"); !strings.Contains(out, `"Kind":"gpu","Value":2`) {
			t.Fatalf("node generic resources = %s, want gpu=2", out)
		}
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "gpu1", "--generic-resource", "gpu=1", "busybox", "sleep", "3600")
		waitReplicas(t, d, "gpu1", "1/1")
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "gpu3", "--generic-resource", "gpu=3", "busybox", "sleep", "3600")
		pendingWith(t, docker, "gpu3", "no suitable node (insufficient resources on 1 node)")
	})

	t.Run("a process past its memory limit is OOM-killed", func(t *testing.T) {
		// dd, the container's first process, fills a 64 MiB buffer in a
		// 16 MiB cgroup.
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "oom", "--limit-memory", "16m", "--restart-condition", "none",
			"busybox", "sh", "-c", "exec dd if=/dev/zero of=/dev/null bs=64M count=1")
		rows := waitStates(t, docker, "oom", map[string]int{"Failed": 1}, 60*time.Second)
		if !strings.Contains(rows[0].Error, "137") {
			t.Fatalf("oom task error %q, want exit 137", rows[0].Error)
		}
		id := strings.TrimSpace(d.Docker("service", "ps", "-q", "--no-trunc", "oom"))
		if got := strings.TrimSpace(d.Docker("inspect", id, "--format", "{{.Status.State}} {{.Status.ContainerStatus.ExitCode}}")); got != "failed 137" {
			t.Fatalf("task %s = %q, want failed 137", id, got)
		}
	})

	t.Run("replicated job runs its completions one at a time", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "batch", "--mode", "replicated-job", "--replicas", "3", "--max-concurrent", "1", "busybox", "sh", "-c", "sleep 1")
		most := 0
		Eventually(t, 90*time.Second, func() string {
			rows := serviceTasks(docker, "batch")
			running := 0
			for _, r := range rows {
				if r.State == "Running" {
					running++
				}
			}
			most = max(most, running)
			if got := countStates(rows); !maps.Equal(got, map[string]int{"Complete": 3}) {
				return fmt.Sprintf("batch tasks by state %v, want 3 complete", got)
			}
			return ""
		})
		if most > 1 {
			t.Fatalf("saw %d batch tasks running at once, want at most 1", most)
		}
	})

	t.Run("global job completes on the node", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "once", "--mode", "global-job", "busybox", "true")
		waitStates(t, docker, "once", map[string]int{"Complete": 1}, 60*time.Second)
	})
}

// shoalOn runs the shoal CLI against a cluster host.
func shoalOn(h Host, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shoalBin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.DockerHost(), "DOCKER_CONFIG="+filepath.Join(h.DataRoot, "docker-config"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// perZone sums running tasks per node into zones.
func perZone(per map[string]int, zones map[string]string) map[string]int {
	out := map[string]int{}
	for node, n := range per {
		out[zones[node]] += n
	}
	return out
}

func placementCluster(t *testing.T) {
	hosts := startCluster(t, 1, 3)
	m1 := hosts[0]
	// Zone a is the manager alone; zone b the three workers.
	zones := map[string]string{"manager1": "a", "worker1": "b", "worker2": "b", "worker3": "b"}
	Eventually(t, 60*time.Second, func() string {
		tab := nodeTable(m1)
		for name := range zones {
			if !strings.HasPrefix(tab[name], "Ready Active") {
				return fmt.Sprintf("node ls %v, want all four ready", tab)
			}
		}
		return ""
	})
	for _, name := range slices.Sorted(maps.Keys(zones)) {
		m1.Docker("node", "update", "--label-add", "zone="+zones[name], name)
	}

	t.Run("spread over zones first", func(t *testing.T) {
		m1.Docker(append([]string{"service", "create", "-d", "--no-resolve-image", "--name", "web", "--replicas", "6", "--placement-pref", "spread=node.labels.zone", "busybox"}, sleeper...)...)
		Eventually(t, 120*time.Second, func() string {
			per := tasksByNode(m1, "web")
			want := map[string]int{"manager1": 3, "worker1": 1, "worker2": 1, "worker3": 1}
			if !maps.Equal(per, want) {
				return fmt.Sprintf("running tasks per node %v, want %v (half in each zone)", per, want)
			}
			return ""
		})
	})

	t.Run("drain moves tasks within the rules", func(t *testing.T) {
		m1.Docker("node", "update", "--availability", "drain", "worker1")
		Eventually(t, 120*time.Second, func() string {
			per := tasksByNode(m1, "web")
			if per["worker1"] != 0 || !maps.Equal(perZone(per, zones), map[string]int{"a": 3, "b": 3}) {
				return fmt.Sprintf("running tasks per node %v, want none on worker1 and 3 per zone", per)
			}
			return ""
		})
	})

	t.Run("rebalance gives a node back its share", func(t *testing.T) {
		m1.Docker("node", "update", "--availability", "active", "worker1")
		// Swarm never moves running tasks: worker1 stays empty.
		time.Sleep(3 * time.Second)
		if per := tasksByNode(m1, "web"); per["worker1"] != 0 {
			t.Fatalf("running tasks per node %v: worker1 got tasks without a rebalance", per)
		}
		out, err := shoalOn(m1, "service", "rebalance", "web")
		if err != nil || !strings.Contains(out, "web: rebalanced") {
			t.Fatalf("shoal service rebalance web: %v\n%s\n%s", err, out, m1.Docker("service", "ps", "--no-trunc", "web"))
		}
		Eventually(t, 60*time.Second, func() string {
			per := tasksByNode(m1, "web")
			want := map[string]int{"manager1": 3, "worker1": 1, "worker2": 1, "worker3": 1}
			if !maps.Equal(per, want) {
				return fmt.Sprintf("running tasks per node %v, want %v", per, want)
			}
			return ""
		})
	})

	t.Run("automatic rebalance when a node becomes active", func(t *testing.T) {
		m1.Docker("service", "update", "-d", "--label-add", "com.shoal.rebalance=auto", "web")
		m1.Docker("node", "update", "--availability", "drain", "worker2")
		Eventually(t, 120*time.Second, func() string {
			if per := tasksByNode(m1, "web"); per["worker2"] != 0 {
				return fmt.Sprintf("running tasks per node %v, want none on the drained worker2", per)
			}
			return ""
		})
		m1.Docker("node", "update", "--availability", "active", "worker2")
		Eventually(t, 120*time.Second, func() string {
			per := tasksByNode(m1, "web")
			want := map[string]int{"manager1": 3, "worker1": 1, "worker2": 1, "worker3": 1}
			if !maps.Equal(per, want) {
				return fmt.Sprintf("running tasks per node %v, want %v", per, want)
			}
			return ""
		})
	})
}
