package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/limits"
)

// TestBoundedObjects puts the largest objects the API accepts, and
// objects past every limit written straight into the replicated store
// (the shoaltesthooks build's way past the API), on 3 managers and a
// worker: every node keeps its session and gets its assignments, and
// managers restarted with a spec they cannot serve come up, serve, and
// say why in `docker service ps` and `inspect`.
func TestBoundedObjects(t *testing.T) {
	hosts := startCluster(t, 3, 1)
	m1 := hosts[0]
	m1.Docker("swarm", "update", "--dispatcher-heartbeat", "1s")
	nodes := []string{"manager1", "manager2", "manager3", "worker1"}
	allReady := func(h Host) string {
		tab := nodeTable(h)
		for _, n := range nodes {
			if !strings.HasPrefix(tab[n], "Ready") {
				return fmt.Sprintf("node ls: %v, want every node ready", tab)
			}
		}
		return ""
	}
	Eventually(t, 60*time.Second, func() string { return allReady(m1) })
	// everywhere waits until a service runs want tasks on every node.
	everywhere := func(t *testing.T, h Host, service string, want int) {
		t.Helper()
		Eventually(t, 3*time.Minute, func() string {
			per := tasksByNode(h, service)
			total := 0
			for _, n := range per {
				total += n
			}
			if total != want || len(per) != len(nodes) {
				return fmt.Sprintf("%s: running tasks per node %v, want %d over all %d nodes", service, per, want, len(nodes))
			}
			return ""
		})
	}
	m1.Docker("service", "create", "-d", "--no-resolve-image", "--name", "web", "--replicas", "2", "busybox", "sleep", "3600")

	t.Run("the largest objects the API accepts reach every node", func(t *testing.T) {
		dir := t.TempDir()
		write := func(name string, n int) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, bytes.Repeat([]byte{'d'}, n), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		// Docker's rule: data shorter than the limit.
		secretID := strings.TrimSpace(m1.Docker("secret", "create", "big-secret", write("secret", limits.MaxSecretData-1)))
		configID := strings.TrimSpace(m1.Docker("config", "create", "big-config", write("config", limits.MaxConfigData-1)))

		// A task template filled with /etc/hosts entries up to the
		// largest spec (entries harm no process, unlike a huge
		// environment); every task carries it, so a node's three tasks,
		// the secret and the config make more than one message.
		template := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:   "busybox:latest",
			Command: []string{"sleep", "3600"},
			Secrets: []*swarm.SecretReference{{SecretID: secretID, SecretName: "big-secret", File: &swarm.SecretReferenceFileTarget{Name: "big-secret", UID: "0", GID: "0", Mode: 0o444}}},
			Configs: []*swarm.ConfigReference{{ConfigID: configID, ConfigName: "big-config", File: &swarm.ConfigReferenceFileTarget{Name: "/big-config", UID: "0", GID: "0", Mode: 0o444}}},
		}}
		global := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "big"}, Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}, TaskTemplate: template}
		fillUpTo(t, &global, func(i, n int) { template.ContainerSpec.Hosts = append(template.ContainerSpec.Hosts, hostsEntry(i, n)) },
			func() { global.TaskTemplate = template })
		replicas := uint64(3 * len(nodes))
		replicated := global
		replicated.Name = "big-r"
		replicated.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}
		apiCall(t, m1, http.MethodPost, "/services/create", global, nil)
		apiCall(t, m1, http.MethodPost, "/services/create", replicated, nil)

		// The largest node spec, on the worker, and swarm spec: labels up
		// to their own limit, as many as fit.
		var worker swarm.Node
		apiCall(t, m1, http.MethodGet, "/nodes/worker1", nil, &worker)
		fillUpTo(t, &worker.Spec, labelAdder(&worker.Spec.Labels), nil)
		apiCall(t, m1, http.MethodPost, fmt.Sprintf("/nodes/%s/update?version=%d", worker.ID, worker.Version.Index), worker.Spec, nil)
		var sw swarm.Swarm
		apiCall(t, m1, http.MethodGet, "/swarm", nil, &sw)
		fillUpTo(t, &sw.Spec, labelAdder(&sw.Spec.Labels), nil)
		apiCall(t, m1, http.MethodPost, fmt.Sprintf("/swarm/update?version=%d", sw.Version.Index), sw.Spec, nil)

		m1.Docker("service", "create", "-d", "--no-resolve-image", "--name", "probe", "--mode", "global", "busybox", "sleep", "3600")
		everywhere(t, m1, "probe", len(nodes))
		everywhere(t, m1, "big", len(nodes))
		everywhere(t, m1, "big-r", int(replicas))
		Eventually(t, 30*time.Second, func() string { return allReady(m1) })

		// Assignments came a few tasks at a time; a new session starts
		// with the whole set, four tasks, the secret and the config: more
		// than one message.
		restartDaemon(t, &hosts[3], syscall.SIGTERM)
		m1.Docker("service", "create", "-d", "--no-resolve-image", "--name", "probe2", "--mode", "global", "busybox", "sleep", "3600")
		everywhere(t, m1, "probe2", len(nodes))
		everywhere(t, m1, "big-r", int(replicas))
		Eventually(t, 30*time.Second, func() string { return allReady(m1) })
	})

	t.Run("objects past every limit, written past the API, cut no session", func(t *testing.T) {
		leader := leaderHost(t, hosts)
		const huge = 20 << 20
		data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'h'}, huge))
		secretID, configID := identity.NewID(), identity.NewID()
		patchStored(t, leader, "secret", secretID, fmt.Sprintf(`{"ID":%q,"Spec":{"Name":"huge-secret","Data":%q}}`, secretID, data))
		patchStored(t, leader, "config", configID, fmt.Sprintf(`{"ID":%q,"Spec":{"Name":"huge-config","Data":%q}}`, configID, data))
		pad := strings.Repeat("p", huge)
		workerID := strings.TrimSpace(m1.Docker("node", "inspect", "--format", "{{.ID}}", "worker1"))
		patchStored(t, leader, "node", workerID, fmt.Sprintf(`{"Spec":{"Labels":{"huge":%q}}}`, pad))
		clusterID := strings.TrimSpace(m1.Docker("info", "--format", "{{.Swarm.Cluster.ID}}"))
		patchStored(t, leader, "cluster", clusterID, fmt.Sprintf(`{"Spec":{"Labels":{"huge":%q}}}`, pad))
		// A task of probe on the worker, made too large to send.
		victim := strings.TrimSpace(m1.Docker("service", "ps", "-q", "--filter", "node=worker1", "--filter", "desired-state=running", "probe"))
		patchStored(t, leader, "task", victim, fmt.Sprintf(`{"Spec":{"ContainerSpec":{"Hosts":["10.9.9.9 %s"]}}}`, pad))
		// A service of a small spec whose tasks need the huge secret and
		// config: the API takes it, no node can be sent what it needs.
		m1.Docker("service", "create", "-d", "--no-resolve-image", "--name", "uses-huge", "--mode", "global",
			"--secret", "huge-secret", "--config", "source=huge-config,target=/huge", "busybox", "sleep", "3600")

		Eventually(t, 60*time.Second, func() string {
			out := m1.Docker("inspect", "--type", "task", "--format", "{{.Status.State}} {{.Status.Err}}", victim)
			if !strings.HasPrefix(out, "rejected") || !strings.Contains(out, "bytes encoded, more than the") {
				return "the task made too large to send is " + out
			}
			return ""
		})
		Eventually(t, 60*time.Second, func() string {
			out := m1.Docker("service", "ps", "--no-trunc", "--format", "{{.Node}} {{.CurrentState}} {{.Error}}", "uses-huge")
			rejected := 0
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if strings.Contains(line, "Rejected") && strings.Contains(line, "bytes encoded, more than the") {
					rejected++
				}
			}
			if rejected < len(nodes) {
				return "service ps uses-huge:\n" + out
			}
			return ""
		})
		m1.Docker("service", "create", "-d", "--no-resolve-image", "--name", "after", "--mode", "global", "busybox", "sleep", "3600")
		everywhere(t, m1, "after", len(nodes))
		everywhere(t, m1, "probe", len(nodes))
		everywhere(t, m1, "big", len(nodes))
		everywhere(t, m1, "big-r", 3*len(nodes))
		Eventually(t, 30*time.Second, func() string { return allReady(m1) })
		m1.Docker("service", "rm", "uses-huge")
	})

	t.Run("managers restarted with a spec they cannot serve come up, serve and say why", func(t *testing.T) {
		leader := leaderHost(t, hosts)
		webID := strings.TrimSpace(m1.Docker("service", "inspect", "--format", "{{.ID}}", "web"))
		before := len(strings.Fields(m1.Docker("service", "ps", "-q", "web")))
		patchStored(t, leader, "service", webID, `{"Spec":{"Mode":{"Replicated":{"Replicas":9223372036854775808}}}}`)
		const why = "cannot be served: Mode.Replicated.Replicas: 9223372036854775808 is more than the cluster's limit"
		says := func(h Host) string {
			inspect, err := h.TryDocker("service", "inspect", "--format", "{{.UpdateStatus.State}} {{.UpdateStatus.Message}}", "web")
			if err != nil || !strings.HasPrefix(inspect, "paused "+why) {
				return fmt.Sprintf("%s: service inspect web: %v %s", h.Name, err, inspect)
			}
			ps, err := h.TryDocker("service", "ps", "--no-trunc", "--format", "{{.DesiredState}} {{.CurrentState}} {{.Error}}", "web")
			if err != nil || !strings.Contains(ps, "Rejected") || !strings.Contains(ps, why) {
				return fmt.Sprintf("%s: service ps web: %v\n%s", h.Name, err, ps)
			}
			// Its tasks and the mark; none made for it. More is a
			// manager making tasks for it without end: stop at once.
			out, err := h.TryDocker("service", "ps", "-q", "web")
			if n := len(strings.Fields(out)); n > before+1 {
				t.Fatalf("%s: web has %d tasks, want its %d and the mark", h.Name, n, before)
			} else if err != nil || n != before+1 {
				return fmt.Sprintf("%s: web has %d tasks (%v), want its %d and the mark\n%s", h.Name, n, err, before, ps)
			}
			return ""
		}
		Eventually(t, 30*time.Second, func() string { return says(m1) })

		// Every manager in turn, the leader among them, restarts over a
		// store holding the spec.
		for i := range 3 {
			h := &hosts[i]
			restartDaemon(t, h, syscall.SIGTERM)
			Eventually(t, 60*time.Second, func() string {
				if out, err := h.TryDocker("service", "ls"); err != nil {
					return fmt.Sprintf("%s after its restart: service ls: %v %s", h.Name, err, out)
				}
				if leaderOf(*h) == "" {
					return "no leader after the restart of " + h.Name
				}
				return ""
			})
		}
		Eventually(t, 60*time.Second, func() string { return allReady(hosts[1]) })
		for _, h := range hosts[:3] {
			Eventually(t, 30*time.Second, func() string { return says(h) })
		}
		hosts[2].Docker("service", "create", "-d", "--no-resolve-image", "--name", "afterwards", "--mode", "global", "busybox", "sleep", "3600")
		everywhere(t, hosts[2], "afterwards", len(nodes))
		for _, h := range hosts[:3] {
			if err := syscall.Kill(h.Pid, 0); err != nil {
				t.Errorf("the daemon of %s is gone: %v", h.Name, err)
			}
		}

		// The operator fixes it: served again, the mark goes.
		hosts[1].Docker("service", "update", "-d", "--replicas", "2", "web")
		Eventually(t, 60*time.Second, func() string {
			ps := hosts[1].Docker("service", "ps", "--no-trunc", "--format", "{{.DesiredState}} {{.CurrentState}} {{.Error}}", "web")
			if strings.Contains(ps, "cannot be served") {
				return "the mark is still there:\n" + ps
			}
			if n := strings.Count(ps, "Running Running"); n != 2 {
				return fmt.Sprintf("web runs %d tasks, want 2:\n%s", n, ps)
			}
			return ""
		})
	})
}

// fillUpTo grows v with add(0, n), add(1, n), … (then sync, when set),
// each adding about n bytes, until its encoding is within 1 KiB of
// MaxObjectSize: the largest the API takes, with room for the defaults
// the API fills in.
func fillUpTo(t *testing.T, v any, add func(i, n int), sync func()) {
	t.Helper()
	size := func() int {
		if sync != nil {
			sync()
		}
		n, err := limits.EncodedSize(v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const target = limits.MaxObjectSize - 1<<10
	for i := 0; ; i++ {
		left := target - size()
		if left < 256 {
			break
		}
		add(i, min(16<<10, left-64))
	}
	t.Logf("%T filled to %d bytes (the limit is %d)", v, size(), limits.MaxObjectSize)
}

func hostsEntry(i, n int) string {
	name := fmt.Sprintf("h%d-", i)
	return fmt.Sprintf("10.1.%d.%d %s%s", i/256, i%256, name, strings.Repeat("x", max(n-32, 1)))
}

func labelAdder(labels *map[string]string) func(i, n int) {
	return func(i, n int) {
		if *labels == nil {
			*labels = map[string]string{}
		}
		(*labels)[fmt.Sprintf("pad%03d", i)] = strings.Repeat("l", max(n-16, 1))
	}
}

// leaderHost returns the host of the manager that leads now.
func leaderHost(t *testing.T, hosts []Host) Host {
	t.Helper()
	var name string
	Eventually(t, 30*time.Second, func() string {
		if name = leaderOf(hosts[0]); name == "" {
			return "no leader"
		}
		return ""
	})
	for _, h := range hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("the leader %s is none of the hosts", name)
	return Host{}
}

// patchStored writes an object past the API, on the leader, through the
// test hook of binaries built with the shoaltesthooks tag.
func patchStored(t *testing.T, leader Host, kind, id, patch string) {
	t.Helper()
	status, body := request(t, leader, http.MethodPost, "/shoal-test/store/"+kind+"/"+id, strings.NewReader(patch))
	if status != http.StatusNoContent {
		t.Fatalf("patch %s %s on %s: %d %s", kind, id, leader.Name, status, body)
	}
}

// apiCall sends in (JSON, when not nil) to the host's Engine API and
// decodes the answer into out (when not nil), failing on a non-2xx.
func apiCall(t *testing.T, h Host, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	status, resp := request(t, h, method, path, body)
	if status/100 != 2 {
		t.Fatalf("%s %s on %s: %d %.500s", method, path, h.Name, status, resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

func request(t *testing.T, h Host, method, path string, body io.Reader) (int, []byte) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.Socket)
	}}, Timeout: 2 * time.Minute}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://shoal"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, h.Name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}
