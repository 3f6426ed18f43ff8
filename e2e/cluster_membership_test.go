package e2e

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/ca"
)

// TestClusterMembership changes who is in the swarm, on 3 managers and a
// worker: promote, demote, node rm, autolock across a restart, quorum loss
// and recovery, and force-new-cluster on the last manager standing.
func TestClusterMembership(t *testing.T) {
	hosts := startCluster(t, 3, 1)
	m1, m2, m3, w1 := &hosts[0], &hosts[1], &hosts[2], &hosts[3]
	m1.Docker("swarm", "update", "--dispatcher-heartbeat", "1s")
	allManagers := []*Host{m1, m2, m3}
	// worker1's certificate while it is a worker: it stays valid when
	// worker1 is promoted, and when it is removed.
	w1Cert := nodeCert(t, w1.DataRoot)

	t.Run("every node ready", func(t *testing.T) {
		Eventually(t, 30*time.Second, func() string {
			tab := nodeTable(*m1)
			for _, h := range hosts {
				if !strings.HasPrefix(tab[h.Name], "Ready Active") {
					return fmt.Sprintf("node ls: %v", tab)
				}
			}
			return ""
		})
	})

	t.Run("authorization: the cluster port refuses whom it must", func(t *testing.T) {
		checkClusterAuthorization(t, *m1, w1Cert)
	})

	t.Run("promote a worker, then demote it", func(t *testing.T) {
		m1.Docker("node", "promote", "worker1")
		Eventually(t, 60*time.Second, func() string {
			if st := nodeTable(*m1)["worker1"]; st != "Ready Active Reachable" {
				return "promoted worker1 is " + st
			}
			if out, err := w1.TryDocker("node", "ls"); err != nil {
				return "node ls on the promoted worker1: " + out
			}
			return ""
		})
		m1.Docker("node", "demote", "worker1")
		Eventually(t, 60*time.Second, func() string {
			if st := nodeTable(*m1)["worker1"]; st != "Ready Active" {
				return "demoted worker1 is " + st
			}
			out, err := w1.TryDocker("node", "ls")
			if err == nil || !strings.Contains(out, "This node is not a swarm manager") {
				return "node ls on the demoted worker1: " + out
			}
			return ""
		})
	})

	t.Run("demote the leader, then promote it back", func(t *testing.T) {
		leader := hostNamed(hosts, leaderOf(*m2))
		if leader == nil {
			t.Fatalf("no leader in %v", nodeTable(*m2))
		}
		var other *Host
		for _, h := range allManagers {
			if h != leader {
				other = h
				break
			}
		}
		other.Docker("node", "demote", leader.Name)
		Eventually(t, 60*time.Second, func() string {
			tab := nodeTable(*other)
			if tab[leader.Name] != "Ready Active" {
				return fmt.Sprintf("demoted leader %s is %q in %v", leader.Name, tab[leader.Name], tab)
			}
			if l := leaderOf(*other); l == "" || l == leader.Name {
				return "leader is " + l
			}
			return ""
		})
		other.Docker("node", "promote", leader.Name)
		Eventually(t, 60*time.Second, func() string {
			if st := nodeTable(*other)[leader.Name]; st != "Ready Active Reachable" {
				return fmt.Sprintf("promoted %s is %q", leader.Name, st)
			}
			// Raft counts it reachable a moment before its own API serves
			// as a manager.
			if out, err := leader.TryDocker("node", "ls"); err != nil {
				return fmt.Sprintf("node ls on the promoted %s: %s", leader.Name, out)
			}
			return ""
		})
	})

	t.Run("node rm of a live worker needs force and makes it leave", func(t *testing.T) {
		out, err := m1.TryDocker("node", "rm", "worker1")
		if err == nil || !strings.Contains(out, "is not down and can't be removed") {
			t.Fatalf("node rm of a ready worker: %v, %q; want it refused", err, out)
		}
		m1.Docker("node", "rm", "--force", "worker1")
		Eventually(t, 30*time.Second, func() string {
			if st := strings.TrimSpace(w1.Docker("info", "--format", "{{.Swarm.LocalNodeState}}")); st != "inactive" {
				return "the removed worker1 is " + st
			}
			if _, ok := nodeTable(*m1)["worker1"]; ok {
				return "worker1 still listed"
			}
			return ""
		})
	})

	t.Run("authorization: a removed node's certificate is refused", func(t *testing.T) {
		checkRemovedRefused(t, *m1, w1Cert)
	})

	t.Run("autolock: a restarted manager is locked until unlocked", func(t *testing.T) {
		out := m1.Docker("swarm", "update", "--autolock=true")
		key := regexp.MustCompile(`SWMKEY-1-\S+`).FindString(out)
		if key == "" || strings.TrimSpace(m1.Docker("swarm", "unlock-key", "-q")) != key {
			t.Fatalf("swarm update --autolock printed %q; want the key unlock-key gives", out)
		}
		// manager2 seals its keys once it has applied the update; restarted
		// before that, it would rightly come back unlocked.
		Eventually(t, 30*time.Second, func() string { return keysSealed(m2, true) })
		restartDaemon(t, m2, syscall.SIGTERM)
		if st := strings.TrimSpace(m2.Docker("info", "--format", "{{.Swarm.LocalNodeState}}")); st != "locked" {
			t.Fatalf("restarted autolocked manager is %s, want locked", st)
		}
		out, err := m2.TryDocker("node", "ls")
		if err == nil || !strings.Contains(out, `Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.`) {
			t.Fatalf("node ls on a locked manager: %v, %q", err, out)
		}
		out, err = dockerWithInput(*m2, "SWMKEY-1-Vz0nD6tBMbkd0Pe9tmLbRK+sf4dNZ0J4KsRq6/RDbzU\n", "swarm", "unlock")
		if err == nil || !strings.Contains(out, "invalid key") {
			t.Fatalf("unlock with a wrong key: %v, %q; want it refused", err, out)
		}
		if out, err := dockerWithInput(*m2, key+"\n", "swarm", "unlock"); err != nil {
			t.Fatalf("unlock with the key: %v, %q", err, out)
		}
		Eventually(t, 30*time.Second, func() string {
			if out, err := m2.TryDocker("node", "ls"); err != nil {
				return "node ls on the unlocked manager: " + out
			}
			// Leadership may move to it meanwhile (an election on a
			// loaded machine, as CI once saw): Leader is as good as
			// Reachable here.
			if st := nodeTable(*m1)["manager2"]; st != "Ready Active Reachable" && st != "Ready Active Leader" {
				return "unlocked manager2 is " + st
			}
			return ""
		})
		m1.Docker("swarm", "update", "--autolock=false")
		// Each manager writes its keys in clear once it has applied the
		// update; one killed before that (the next subtest kills two)
		// rightly comes back locked, as a SwarmKit manager would.
		for _, h := range allManagers {
			Eventually(t, 30*time.Second, func() string { return keysSealed(h, false) })
		}
	})

	t.Run("quorum: a demotion that would lose it is refused; losing it stops writes and reads until managers return", func(t *testing.T) {
		m1.Docker("service", "create", "-d", "--no-resolve-image", "--name", "steady", "--replicas", "2", "busybox", "sleep", "3600")
		start := time.Now()
		stopDaemon(t, m3, syscall.SIGKILL)
		Eventually(t, 30*time.Second, func() string {
			if st := nodeTable(*m1)["manager3"]; !strings.HasSuffix(st, "Unreachable") {
				return "killed manager3 is " + st
			}
			return ""
		})
		t.Logf("killed manager3 shown unreachable after %.1f s", time.Since(start).Seconds())
		out, err := m1.TryDocker("node", "demote", "manager2")
		if err == nil || !strings.Contains(out, "this would result in a loss of quorum") {
			t.Fatalf("demote with one manager of three down: %v, %q; want it refused", err, out)
		}

		stopDaemon(t, m2, syscall.SIGKILL)
		start = time.Now()
		var msg string
		Eventually(t, 30*time.Second, func() string {
			out, err := m1.TryDocker("service", "scale", "-d", "steady=3")
			if err == nil {
				return "a write without quorum succeeded"
			}
			if !strings.Contains(out, "does not have a leader") {
				return "write without quorum: " + out
			}
			msg = out
			return ""
		})
		t.Logf("write refused %.1f s after the second manager was killed: %s", time.Since(start).Seconds(), strings.TrimSpace(msg))
		// As SwarmKit: a manager that cannot reach a quorum cannot tell how
		// old its state is, so it refuses reads too.
		if out, err := m1.TryDocker("service", "ls"); err == nil || !strings.Contains(out, "The swarm does not have a leader") {
			t.Fatalf("a read without quorum: %v, %q; want it refused", err, out)
		}

		start = time.Now()
		startDaemon(t, m2)
		startDaemon(t, m3)
		t.Logf("managers restarted in %.1f s", time.Since(start).Seconds())
		Eventually(t, 60*time.Second, func() string {
			if out, err := m1.TryDocker("service", "scale", "-d", "steady=3"); err != nil {
				return "write after the managers came back: " + out
			}
			return ""
		})
		t.Logf("first write %.1f s after the restarts began", time.Since(start).Seconds())
		Eventually(t, 60*time.Second, func() string {
			tab := nodeTable(*m1)
			for _, h := range allManagers {
				if st := tab[h.Name]; !strings.HasPrefix(st, "Ready Active") || !(strings.HasSuffix(st, "Reachable") || strings.HasSuffix(st, "Leader")) {
					return fmt.Sprintf("after recovery: %v", tab)
				}
			}
			return ""
		})
		t.Logf("every manager ready and reachable %.1f s after the restarts began", time.Since(start).Seconds())
	})

	t.Run("force-new-cluster on the last manager standing", func(t *testing.T) {
		stopDaemon(t, m2, syscall.SIGKILL)
		stopDaemon(t, m3, syscall.SIGKILL)
		m1.Docker("swarm", "init", "--force-new-cluster")
		m1.Docker("service", "scale", "-d", "steady=1")
		tab := nodeTable(*m1)
		if !strings.HasSuffix(tab["manager1"], "Leader") || strings.HasSuffix(tab["manager2"], "Reachable") || strings.HasSuffix(tab["manager3"], "Reachable") {
			t.Fatalf("node ls after force-new-cluster: %v; want manager1 the only manager", tab)
		}
		// An old manager that comes back is a worker of the new cluster.
		startDaemon(t, m2)
		Eventually(t, 60*time.Second, func() string {
			if st := nodeTable(*m1)["manager2"]; st != "Ready Active" {
				return "manager2 back after force-new-cluster is " + st
			}
			out, err := m2.TryDocker("node", "ls")
			if err == nil || !strings.Contains(out, "This node is not a swarm manager") {
				return "node ls on the old manager: " + out
			}
			return ""
		})
	})
}

func hostNamed(hosts []Host, name string) *Host {
	for i := range hosts {
		if hosts[i].Name == name {
			return &hosts[i]
		}
	}
	return nil
}

// dockerWithInput runs the docker CLI with input on its standard input.
func dockerWithInput(h Host, input string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.DockerHost(), "DOCKER_CONFIG="+filepath.Join(h.DataRoot, "docker-config"))
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stopDaemon signals a host's daemon and waits until it has exited.
func stopDaemon(t *testing.T, h *Host, sig syscall.Signal) {
	t.Helper()
	done, ok := daemonExits[h.Pid]
	if !ok {
		t.Fatalf("the daemon of %s (pid %d) was not started by this test", h.Name, h.Pid)
	}
	if err := syscall.Kill(h.Pid, sig); err != nil {
		t.Fatalf("signal the daemon of %s: %v", h.Name, err)
	}
	select {
	case <-done:
		delete(daemonExits, h.Pid)
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon of %s did not exit after %v", h.Name, sig)
	}
}

// keysSealed says why h's node key and raft key are not both sealed with
// the unlock key (sealed) or both in clear (!sealed) yet, "" once they are.
func keysSealed(h *Host, sealed bool) string {
	dir := filepath.Join(h.DataRoot, "swarm")
	for path, locked := range map[string]string{
		filepath.Join(dir, "certificates", ca.NodeKeyFile): "SHOAL ENCRYPTED KEY",
		filepath.Join(dir, "raft-dek.pem"):                 "SHOAL ENCRYPTED RAFT DEK",
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		b, _ := pem.Decode(data)
		if b == nil {
			return fmt.Sprintf("%s: %s is not PEM", h.Name, path)
		}
		if (b.Type == locked) != sealed {
			return fmt.Sprintf("%s: %s is %s, want sealed=%v", h.Name, path, b.Type, sealed)
		}
	}
	return ""
}

// restartDaemon stops a host's daemon and starts it again over its state.
func restartDaemon(t *testing.T, h *Host, sig syscall.Signal) {
	t.Helper()
	stopDaemon(t, h, sig)
	startDaemon(t, h)
}

// startDaemon starts a host's daemon in its network namespace the way
// localcluster does, and waits until it answers. What it leaves running
// when the test ends, localcluster.Down kills with the host's namespace.
func startDaemon(t *testing.T, h *Host) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(h.DataRoot, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("nsenter", "--net="+filepath.Join("/run/netns", h.Netns), "--", shoalBin, "daemon",
		"--data-root", h.DataRoot, "--exec-root", h.ExecRoot, "--host", h.DockerHost(), "--hostname", h.Name, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the daemon of %s: %v", h.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	h.Pid = cmd.Process.Pid
	daemonExits[h.Pid] = done
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.Socket)
	}}, Timeout: 2 * time.Second}
	Eventually(t, 90*time.Second, func() string {
		select {
		case <-done:
			t.Fatalf("the daemon of %s exited at start; see %s", h.Name, filepath.Join(h.DataRoot, "daemon.log"))
		default:
		}
		resp, err := hc.Get("http://shoal/_ping")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		return ""
	})
}
