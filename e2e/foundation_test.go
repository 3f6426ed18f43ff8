package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

var regexpID = regexp.MustCompile(`^[0-9a-z]{25}$`)

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// initSwarm makes d a one-node swarm on a free loopback port.
func initSwarm(t *testing.T, d *Daemon) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	out := d.Docker("swarm", "init", "--advertise-addr", addr, "--listen-addr", addr)
	if !strings.Contains(out, "Swarm initialized: current node (") {
		t.Fatalf("swarm init printed %q", out)
	}
}

// replicas is what `docker service ls` shows in REPLICAS for a service.
func replicas(d *Daemon, service string) string {
	out, _ := d.TryDocker("service", "ls", "--filter", "name="+service, "--format", "{{.Name}} {{.Replicas}}")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == service {
			return f[1]
		}
	}
	return "(no such service)"
}

func waitReplicas(t *testing.T, d *Daemon, service, want string) {
	t.Helper()
	Eventually(t, 60*time.Second, func() string {
		if got := replicas(d, service); got != want {
			return fmt.Sprintf("service %s has %s replicas, want %s", service, got, want)
		}
		return ""
	})
}

// containers lists the IDs of running containers of a service.
func containers(d *Daemon, service string) []string {
	out, _ := d.TryDocker("ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+service)
	return strings.Fields(out)
}

func waitContainers(t *testing.T, d *Daemon, service string, n int) []string {
	t.Helper()
	var ids []string
	Eventually(t, 60*time.Second, func() string {
		ids = containers(d, service)
		if len(ids) != n {
			return fmt.Sprintf("%d containers of %s running, want %d", len(ids), service, n)
		}
		return ""
	})
	return ids
}

// TestFoundation walks what a Swarm user does on one node, with the real
// docker CLI: init, images from a registry and from a tarball, services
// replicated and global, scaling, a failing task under its restart
// policy, logs, exec, removal, and bad input refused without changes.
func TestFoundation(t *testing.T) {
	registry := testimage.ServeRegistry(t)
	ref := testimage.Push(t, registry, "busybox:latest", testimage.Image(t))
	d := StartDaemon(t, "--insecure-registry", registry)
	initSwarm(t, d)

	t.Run("info and node ls show the swarm", func(t *testing.T) {
		if got := strings.TrimSpace(d.Docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Managers}}")); got != "active true 1" {
			t.Fatalf("docker info swarm = %q, want active true 1", got)
		}
		if out := d.Docker("node", "ls"); !strings.Contains(out, "Leader") || !strings.Contains(out, "Ready") || !strings.Contains(out, " * ") {
			t.Fatalf("docker node ls:\n%s\nwant this node, Ready and Leader, marked *", out)
		}
		if got := strings.TrimSpace(d.Docker("node", "inspect", "self", "--format", "{{.Spec.Role}} {{.Status.State}}")); got != "manager ready" {
			t.Fatalf("node inspect self = %q, want manager ready", got)
		}
	})

	t.Run("images: pull, import, ls, tag, rmi", func(t *testing.T) {
		d.Docker("pull", ref)
		tar := testimage.RootfsTar(t)
		d.Docker("import", tar, "imported:latest")
		out := d.Docker("images", "--format", "{{.Repository}}:{{.Tag}}")
		for _, want := range []string{ref, "imported:latest"} {
			if !strings.Contains(out, want) {
				t.Fatalf("docker images:\n%s\nwant %s", out, want)
			}
		}
		saved := testimage.DockerSave(t, "loaded:v1", testimage.Image(t, testimage.WithEnv("FROM=load")))
		if out := d.Docker("load", "-i", saved); !strings.Contains(out, "loaded:v1") {
			t.Fatalf("docker load printed %q, want the loaded name", out)
		}
		if env := d.Docker("image", "inspect", "loaded:v1", "--format", "{{.Config.Env}}"); !strings.Contains(env, "FROM=load") {
			t.Fatalf("loaded image config env = %q", env)
		}
		d.Docker("tag", "imported:latest", "imported:copy")
		d.Docker("rmi", "imported:copy")
		if out := d.Docker("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(out, "imported:copy") {
			t.Fatalf("imported:copy still listed after rmi:\n%s", out)
		}
	})

	t.Run("replicated service converges and scales", func(t *testing.T) {
		out := d.Docker(append([]string{"service", "create", "--name", "web", "--replicas", "3", "imported:latest"}, sleeper...)...)
		if !strings.Contains(out, "verify: Service") || !strings.Contains(out, "converged") {
			t.Fatalf("service create progress:\n%s\nwant it to end converged", out)
		}
		waitReplicas(t, d, "web", "3/3")
		ids := waitContainers(t, d, "web", 3)
		name := strings.TrimSpace(d.Docker("inspect", ids[0], "--format", "{{.Name}}"))
		if !strings.HasPrefix(name, "/web.") || len(strings.Split(name, ".")) != 3 {
			t.Fatalf("container name %q, want /web.SLOT.TASKID", name)
		}
		d.Docker("service", "scale", "web=5")
		waitReplicas(t, d, "web", "5/5")
		waitContainers(t, d, "web", 5)
		d.Docker("service", "scale", "-d", "web=1")
		waitReplicas(t, d, "web", "1/1")
		waitContainers(t, d, "web", 1)
	})

	t.Run("exec, logs and inspect of a task container", func(t *testing.T) {
		id := waitContainers(t, d, "web", 1)[0]
		if out := d.Docker("exec", id, "sh", "-c", "echo hello-from-exec; echo to-stderr >&2"); !strings.Contains(out, "hello-from-exec") || !strings.Contains(out, "to-stderr") {
			t.Fatalf("docker exec printed %q", out)
		}
		labels := d.Docker("inspect", id, "--format", "{{index .Config.Labels \"com.docker.swarm.service.name\"}} {{.State.Running}}")
		if strings.TrimSpace(labels) != "web true" {
			t.Fatalf("inspect = %q, want service label web and running", labels)
		}
	})

	t.Run("global service pulls on the node and runs one task", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--name", "everywhere", "--mode", "global", ref, "sleep", "3600")
		waitReplicas(t, d, "everywhere", "1/1")
		if _, err := d.TryDocker("service", "scale", "everywhere=2"); err == nil {
			t.Fatal("scaling a global service succeeded")
		}
	})

	t.Run("failing task restarts per its policy, then stops", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--name", "boom",
			"--restart-condition", "on-failure", "--restart-max-attempts", "2", "--restart-delay", "100ms",
			"imported:latest", "sh", "-c", "echo boom-out; exit 1")
		Eventually(t, 60*time.Second, func() string {
			out := d.Docker("service", "ps", "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}", "boom")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 {
				return fmt.Sprintf("service ps boom has %d rows, want 3 (the first run and 2 restarts):\n%s", len(lines), out)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "Failed") || !strings.Contains(l, "task: non-zero exit (1)") {
					return "row " + l + " is not Failed with task: non-zero exit (1)"
				}
			}
			return ""
		})
		// No fourth attempt comes.
		time.Sleep(time.Second)
		if n := len(strings.Fields(d.Docker("service", "ps", "-q", "boom"))); n != 3 {
			t.Fatalf("got %d tasks after the attempts ran out, want 3", n)
		}
		if out := d.Docker("service", "logs", "boom"); strings.Count(out, "boom-out") != 3 || !strings.Contains(out, "boom.1.") {
			t.Fatalf("service logs boom:\n%s\nwant boom-out from each of 3 tasks, prefixed boom.1.TASK@node", out)
		}
	})

	t.Run("a missing image rejects the task with the registry's answer", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--name", "ghost", "--restart-condition", "none", registry+"/nothing-here:latest")
		Eventually(t, 60*time.Second, func() string {
			out := d.Docker("service", "ps", "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}", "ghost")
			if !strings.HasPrefix(out, "Rejected") || !strings.Contains(out, "No such image: "+registry+"/nothing-here:latest") {
				return "service ps ghost = " + out
			}
			return ""
		})
	})

	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		before := d.Docker("service", "ls", "--format", "{{.ID}} {{.Name}} {{.Replicas}}")
		tests := []struct {
			args []string
			want string
		}{
			{[]string{"service", "create", "--name", "bad1", "BAD:Image::ref"}, "is not a valid repository/tag"},
			{[]string{"service", "create", "--name", "web", "imported:latest"}, "already exists"},
			{[]string{"service", "create", "--name", "bad_name!", "imported:latest"}, "name must be valid as a DNS name component"},
			{[]string{"service", "create", "--name", "bad2", "--restart-condition", "sometimes", "imported:latest"}, "restart"},
			{[]string{"service", "create", "--name", "bad3", "--constraint", "node.role=manager", "imported:latest"}, "constraint"},
			{[]string{"service", "update", "--replicas", "2", "everywhere"}, "replicas can only be used with replicated"},
			{[]string{"service", "inspect", "no-such-service"}, "no-such-service"},
			{[]string{"service", "rm", "no-such-service"}, "not found"},
			{[]string{"node", "inspect", "no-such-node"}, "no-such-node"},
		}
		for _, tt := range tests {
			out, err := d.TryDocker(tt.args...)
			if err == nil || !strings.Contains(strings.ToLower(out), strings.ToLower(tt.want)) {
				t.Errorf("docker %s: err %v, output %q; want a failure saying %q", strings.Join(tt.args, " "), err, out, tt.want)
			}
		}
		// The API itself, for what the CLI checks before sending.
		for _, req := range []struct{ path, body, want string }{
			{"/v1.41/services/create", `{"Name":"neg","TaskTemplate":{"ContainerSpec":{"Image":"imported"}},"Mode":{"Replicated":{"Replicas":-1}}}`, "Replicas"},
			{"/v1.41/services/create", `{"Name":`, "JSON"},
			{"/v9.99/services/create", `{}`, "too new"},
		} {
			resp, err := d.HTTPClient().Post("http://shoal"+req.path, "application/json", strings.NewReader(req.body))
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, 4096)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode/100 != 4 || !strings.Contains(string(body[:n]), req.want) {
				t.Errorf("POST %s %s: %d %s; want 4xx mentioning %q", req.path, req.body, resp.StatusCode, body[:n], req.want)
			}
		}
		if after := d.Docker("service", "ls", "--format", "{{.ID}} {{.Name}} {{.Replicas}}"); after != before {
			t.Fatalf("services changed by refused requests:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("task history limit keeps that many tasks per slot", func(t *testing.T) {
		d.Docker("swarm", "update", "--task-history-limit", "2")
		if got := strings.TrimSpace(d.Docker("info", "--format", "{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}")); got != "2" {
			t.Fatalf("task history limit = %s, want 2", got)
		}
		d.Docker("service", "create", "-d", "--name", "flappy", "--restart-delay", "200ms", "imported:latest", "sh", "-c", "exit 3")
		// Restarts go on forever; once several have happened, at most the
		// limit's worth of tasks stays for the slot (plus the one being
		// replaced while the reaper catches up).
		Eventually(t, 60*time.Second, func() string {
			rows := strings.Fields(d.Docker("service", "ps", "-q", "flappy"))
			out := d.Docker("service", "ps", "--format", "{{.ID}}", "flappy")
			if len(rows) > 3 || !strings.Contains(d.Docker("service", "ps", "--no-trunc", "--format", "{{.Error}}", "flappy"), "non-zero exit (3)") {
				return fmt.Sprintf("service ps flappy has %d rows, want at most 3 after restarts:\n%s", len(rows), out)
			}
			return ""
		})
		time.Sleep(3 * time.Second)
		if rows := strings.Fields(d.Docker("service", "ps", "-q", "flappy")); len(rows) > 3 {
			t.Fatalf("service ps flappy has %d rows after many restarts, want at most 3", len(rows))
		}
		d.Docker("service", "rm", "flappy")
	})

	t.Run("the shoal CLI drives the same daemon", func(t *testing.T) {
		out := d.Shoal("service", "create", "-d", "--no-resolve-image", "--name", "viashoal", "--replicas", "2", "imported:latest", "sh", "-c", "echo shoal-said-hi; sleep 3600")
		if !regexpID.MatchString(strings.TrimSpace(out)) {
			t.Fatalf("shoal service create printed %q, want the service ID", out)
		}
		waitReplicas(t, d, "viashoal", "2/2")
		if out := d.Shoal("service", "ls"); !strings.Contains(out, "viashoal") || !strings.Contains(out, "2/2") {
			t.Fatalf("shoal service ls:\n%s", out)
		}
		if out := d.Shoal("service", "ps", "viashoal"); strings.Count(out, "Running") < 2 {
			t.Fatalf("shoal service ps:\n%s", out)
		}
		if out := d.Shoal("node", "ls"); !strings.Contains(out, "Leader") {
			t.Fatalf("shoal node ls:\n%s", out)
		}
		Eventually(t, 30*time.Second, func() string {
			if out := d.Shoal("service", "logs", "viashoal"); strings.Count(out, "shoal-said-hi") != 2 {
				return "shoal service logs:\n" + out
			}
			return ""
		})
		out = d.Shoal("service", "scale", "viashoal=1")
		if !strings.Contains(out, "converged") {
			t.Fatalf("shoal service scale printed:\n%s\nwant the converge display to end converged", out)
		}
		d.Shoal("service", "rm", "viashoal")
	})

	t.Run("service rm stops its containers", func(t *testing.T) {
		d.Docker("service", "rm", "web")
		waitContainers(t, d, "web", 0)
		if out, _ := d.TryDocker("service", "inspect", "web"); !strings.Contains(strings.ToLower(out), "no such service: web") {
			t.Fatalf("service inspect after rm: %q", out)
		}
	})
}

// TestRestartAdoptsContainers kills the daemon (SIGKILL) and starts it
// again: running task containers are adopted, not restarted, and one that
// died while the daemon was down is replaced.
func TestRestartAdoptsContainers(t *testing.T) {
	d := StartDaemon(t)
	initSwarm(t, d)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "keep", "--replicas", "2", "--restart-delay", "100ms", "busybox", "sleep", "3600")
	ids := waitContainers(t, d, "keep", 2)
	started := map[string]string{}
	pids := map[string]string{}
	for _, id := range ids {
		started[id] = strings.TrimSpace(d.Docker("inspect", id, "--format", "{{.State.StartedAt}}"))
		pids[id] = strings.TrimSpace(d.Docker("inspect", id, "--format", "{{.State.Pid}}"))
	}

	d.Kill()
	// One container dies while nobody watches.
	victim, survivor := ids[0], ids[1]
	if out, err := exec.Command("kill", "-9", pids[victim]).CombinedOutput(); err != nil {
		t.Fatalf("kill %s: %v %s", pids[victim], err, out)
	}
	d.Start()

	if got := strings.TrimSpace(d.Docker("inspect", survivor, "--format", "{{.State.Running}} {{.State.StartedAt}}")); got != "true "+started[survivor] {
		t.Fatalf("survivor after restart: %q, want running since %s (adopted, not restarted)", got, started[survivor])
	}
	Eventually(t, 60*time.Second, func() string {
		now := containers(d, "keep")
		if len(now) != 2 {
			return fmt.Sprintf("%d containers of keep, want 2", len(now))
		}
		for _, id := range now {
			if id == victim {
				return "the killed container is still listed as running"
			}
		}
		return ""
	})
	out := d.Docker("service", "ps", "--format", "{{.CurrentState}}|{{.Error}}", "keep")
	if !strings.Contains(out, "Failed") || !strings.Contains(out, "non-zero exit (137)") {
		t.Fatalf("service ps keep:\n%s\nwant the killed task shown Failed with exit 137", out)
	}
}
