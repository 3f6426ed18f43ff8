package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/localcluster"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// Host wraps a local cluster host for the docker CLI.
type Host struct {
	t *testing.T
	localcluster.Host
}

func (h Host) Docker(args ...string) string {
	h.t.Helper()
	out, err := h.TryDocker(args...)
	if err != nil {
		h.t.Fatalf("%s: docker %s: %v\n%s", h.Name, strings.Join(args, " "), err, out)
	}
	return out
}

func (h Host) TryDocker(args ...string) (string, error) {
	return h.TryDockerInput("", args...)
}

// TryDockerInput is TryDocker with stdin, for commands that ask before
// they act (network rm ingress).
func (h Host) TryDockerInput(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.DockerHost(), "DOCKER_CONFIG="+filepath.Join(h.DataRoot, "docker-config"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startCluster brings up a local cluster for the test and removes it
// afterwards; every host gets a busybox image.
func startCluster(t *testing.T, managers, workers int) []Host {
	t.Helper()
	_, hosts := startLocalCluster(t, managers, workers)
	return hosts
}

// startLocalCluster is startCluster, with the cluster (its bridge, its
// gateway) for tests that reach the hosts from outside; daemonArgs are
// extra flags for every daemon.
func startLocalCluster(t *testing.T, managers, workers int, daemonArgs ...string) (*localcluster.Cluster, []Host) {
	t.Helper()
	name := fmt.Sprintf("e2e%d", os.Getpid()%100000)
	c, err := localcluster.Up(t.Context(), localcluster.Options{
		Name: name, Managers: managers, Workers: workers,
		Subnet:     netip.MustParsePrefix("10.249.77.0/24"),
		Binary:     shoalBin,
		DaemonArgs: append([]string{"--log-level", "debug"}, daemonArgs...),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		keepLogs(t, c)
		if t.Failed() {
			for _, h := range c.Hosts {
				data, _ := os.ReadFile(filepath.Join(h.DataRoot, "daemon.log"))
				lines := strings.Split(string(data), "\n")
				if len(lines) > 60 {
					lines = lines[len(lines)-60:]
				}
				t.Logf("--- %s daemon.log (end) ---\n%s", h.Name, strings.Join(lines, "\n"))
			}
		}
		if err := localcluster.Down(context.Background(), c); err != nil {
			t.Errorf("cluster down: %v", err)
		}
	})
	for _, h := range c.Hosts {
		daemonExits[h.Pid] = reap(h.Pid)
	}
	tar := testimage.RootfsTar(t)
	var hosts []Host
	for _, h := range c.Hosts {
		host := Host{t: t, Host: h}
		host.Docker("import", tar, "busybox:latest")
		hosts = append(hosts, host)
	}
	return c, hosts
}

// daemonExits holds, for each cluster daemon this process started, a
// channel closed once the daemon has exited and been reaped.
var daemonExits = map[int]chan struct{}{}

// reap waits for a daemon localcluster started, a child of this process
// it released: unreaped, an exited daemon stays a zombie that still looks
// alive, and localcluster.Down waits out its whole stop grace on each.
func reap(pid int) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
				return
			}
		}
	}()
	return done
}

// keepLogs copies every host's daemon.log into $E2E_LOGS/<test>/, when
// set, so a run that passed can be read as well as one that failed.
func keepLogs(t *testing.T, c *localcluster.Cluster) {
	dir := os.Getenv("E2E_LOGS")
	if dir == "" {
		return
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("E2E_LOGS: %v", err)
		return
	}
	for _, h := range c.Hosts {
		data, err := os.ReadFile(filepath.Join(h.DataRoot, "daemon.log"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, h.Name+".log"), data, 0o644)
		}
		if err != nil {
			t.Logf("E2E_LOGS: %s: %v", h.Name, err)
		}
	}
}

// nodeTable maps hostname to "STATUS AVAILABILITY MANAGER-STATUS".
func nodeTable(h Host) map[string]string {
	out, _ := h.TryDocker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}")
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.SplitN(line, " ", 2); len(f) == 2 {
			m[f[0]] = strings.TrimSpace(f[1])
		}
	}
	return m
}

// tasksByNode counts the running tasks of a service per node hostname.
func tasksByNode(h Host, service string) map[string]int {
	out, _ := h.TryDocker("service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", service)
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == "Running" {
			m[f[0]]++
		}
	}
	return m
}

func leaderOf(h Host) string {
	for host, st := range nodeTable(h) {
		if strings.HasSuffix(st, "Leader") {
			return host
		}
	}
	return ""
}

// TestCluster runs 3 managers and 2 workers, each a network namespace with
// its own daemon and containerd, and does to them what breaks clusters.
func TestCluster(t *testing.T) {
	hosts := startCluster(t, 3, 2)
	m1, m2, m3, w1, w2 := hosts[0], hosts[1], hosts[2], hosts[3], hosts[4]

	// Fast heartbeats: a dead node is noticed in seconds.
	m1.Docker("swarm", "update", "--dispatcher-heartbeat", "1s")

	t.Run("every node ready, one leader, managers reachable", func(t *testing.T) {
		Eventually(t, 30*time.Second, func() string {
			tab := nodeTable(m2)
			want := map[string]string{
				"manager1": "Ready Active Leader", "manager2": "Ready Active Reachable", "manager3": "Ready Active Reachable",
				"worker1": "Ready Active", "worker2": "Ready Active",
			}
			for k, v := range want {
				if tab[k] != v {
					return fmt.Sprintf("node ls on manager2: %v, want %v", tab, want)
				}
			}
			return ""
		})
	})

	t.Run("a secret is in clear only in its tasks' tmpfs, on every node", func(t *testing.T) {
		checkSecretsOnEveryNode(t, hosts)
	})

	t.Run("a write on a follower is committed by the leader", func(t *testing.T) {
		m3.Docker("service", "create", "-d", "--no-resolve-image", "--name", "web", "--replicas", "10", "busybox", "sleep", "3600")
		Eventually(t, 90*time.Second, func() string {
			per := tasksByNode(m1, "web")
			total := 0
			for _, n := range per {
				total += n
			}
			if total != 10 || len(per) != 5 {
				return fmt.Sprintf("running tasks per node %v, want 10 spread over all 5 nodes", per)
			}
			return ""
		})
	})

	t.Run("service logs gather every node's tasks", func(t *testing.T) {
		m2.Docker("service", "create", "-d", "--no-resolve-image", "--name", "talk", "--mode", "global", "busybox", "sh", "-c", "echo said-hello; sleep 3600")
		Eventually(t, 60*time.Second, func() string {
			out := m2.Docker("service", "logs", "talk")
			nodes := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				if !strings.Contains(line, "said-hello") {
					continue
				}
				// talk.NODE.TASK@HOST    | said-hello
				if at := strings.Index(line, "@"); at >= 0 {
					nodes[strings.Fields(line[at+1:])[0]] = true
				}
			}
			if len(nodes) != 5 {
				return fmt.Sprintf("logs from %d nodes (%v), want all 5:\n%s", len(nodes), nodes, out)
			}
			return ""
		})
		m2.Docker("service", "rm", "talk")
	})

	t.Run("a wrong or rotated token is refused", func(t *testing.T) {
		oldWorker := strings.TrimSpace(m1.Docker("swarm", "join-token", "-q", "worker"))
		oldID := strings.TrimSpace(w2.Docker("info", "--format", "{{.Swarm.NodeID}}"))
		w2.Docker("swarm", "leave")
		m1.Docker("swarm", "join-token", "--rotate", "worker")
		for name, token := range map[string]string{
			"rotated": oldWorker,
			"unknown": oldWorker[:len(oldWorker)-25] + "0000000000000000000000000",
		} {
			out, err := w2.TryDocker("swarm", "join", "--token", token, "--advertise-addr", w2.ClusterAddr(), "--listen-addr", w2.ClusterAddr(), m1.ClusterAddr())
			if err == nil || !strings.Contains(out, "valid join token") {
				t.Fatalf("join with a %s token: err %v, %q; want it refused", name, err, out)
			}
		}
		token := strings.TrimSpace(m1.Docker("swarm", "join-token", "-q", "worker"))
		w2.Docker("swarm", "join", "--token", token, "--advertise-addr", w2.ClusterAddr(), "--listen-addr", w2.ClusterAddr(), m1.ClusterAddr())
		// The rejoined node is a new one; the old one goes down and is removed.
		Eventually(t, 30*time.Second, func() string {
			if out, err := m1.TryDocker("node", "rm", oldID); err != nil {
				return "node rm of the old worker2: " + out
			}
			return ""
		})
		Eventually(t, 30*time.Second, func() string {
			if st := nodeTable(m1)["worker2"]; st != "Ready Active" {
				return "rejoined worker2 is " + st
			}
			return ""
		})
	})

	t.Run("swarm ca --rotate moves every node to a new root while services run", func(t *testing.T) {
		before := strings.TrimSpace(m1.Docker("swarm", "ca"))
		oldToken := strings.TrimSpace(m1.Docker("swarm", "join-token", "-q", "worker"))
		start := time.Now()
		// The docker CLI waits until every node holds a certificate of the
		// new root and trusts it alone, then prints the new root.
		out := m2.Docker("swarm", "ca", "--rotate")
		t.Logf("docker swarm ca --rotate converged on 5 nodes in %.2f s", time.Since(start).Seconds())
		after := strings.TrimSpace(m3.Docker("swarm", "ca"))
		if after == before || !strings.HasPrefix(after, "-----BEGIN CERTIFICATE-----") || !strings.Contains(out, after) {
			t.Fatalf("after the rotation the root is\n%s\nbefore it was\n%s\nswarm ca --rotate printed\n%s", after, before, out)
		}
		for _, name := range []string{"manager1", "manager2", "manager3", "worker1", "worker2"} {
			got := strings.TrimSpace(m1.Docker("node", "inspect", "--format", "{{.Description.TLSInfo.TrustRoot}}", name))
			if got != after {
				t.Errorf("%s trusts\n%s\nwant the new root", name, got)
			}
		}
		if tok := strings.TrimSpace(m1.Docker("swarm", "join-token", "-q", "worker")); tok == oldToken {
			t.Error("the worker join token did not change with the root")
		}
		// The services keep running, including the replacements of the
		// tasks of the worker that rejoined, placed over rotated sessions.
		Eventually(t, 60*time.Second, func() string {
			for name, st := range nodeTable(m1) {
				if !strings.HasPrefix(st, "Ready") {
					return fmt.Sprintf("%s is %s after the rotation", name, st)
				}
			}
			per := tasksByNode(m1, "web")
			total := 0
			for _, n := range per {
				total += n
			}
			if total != 10 {
				return fmt.Sprintf("running tasks per node after the rotation %v, want 10", per)
			}
			return ""
		})
	})

	t.Run("the leader is killed: a new one leads and writes succeed", func(t *testing.T) {
		killDaemon(t, m1)
		start := time.Now()
		Eventually(t, 30*time.Second, func() string {
			if out, err := m2.TryDocker("service", "scale", "-d", "web=12"); err != nil {
				return "service scale on manager2: " + out
			}
			return ""
		})
		t.Logf("first successful write %.2f s after SIGKILL of the leader", time.Since(start).Seconds())
		Eventually(t, 30*time.Second, func() string {
			if l := leaderOf(m2); l != "manager2" && l != "manager3" {
				return "leader is " + l
			}
			return ""
		})
	})

	t.Run("a dead node is marked down and its tasks run elsewhere", func(t *testing.T) {
		killDaemon(t, w1)
		Eventually(t, 60*time.Second, func() string {
			if st := nodeTable(m2)["worker1"]; !strings.HasPrefix(st, "Down") {
				return "worker1 is " + st
			}
			per := tasksByNode(m2, "web")
			total := 0
			for _, n := range per {
				total += n
			}
			if per["worker1"] != 0 || total != 12 {
				return fmt.Sprintf("running tasks per node %v, want 12 and none on worker1", per)
			}
			return ""
		})
	})

	t.Run("drain moves tasks off a node", func(t *testing.T) {
		m2.Docker("node", "update", "--availability", "drain", "manager3")
		Eventually(t, 60*time.Second, func() string {
			per := tasksByNode(m2, "web")
			if per["manager3"] != 0 {
				return fmt.Sprintf("running tasks per node %v, want none on the drained manager3", per)
			}
			return ""
		})
		m2.Docker("node", "update", "--availability", "active", "manager3")
	})
}

func killDaemon(t *testing.T, h Host) {
	t.Helper()
	if err := syscall.Kill(h.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the daemon of %s: %v", h.Name, err)
	}
}
