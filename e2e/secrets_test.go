package e2e

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/plaintext"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// TestSecretsAndConfigs drives docker secret and docker config with the
// docker CLI, and a service that uses both: the files appear in the
// container where Docker puts them, with the mode asked, the secret on a
// tmpfs and nowhere else (no file, log, event, metric or inspect holds
// it in any encoding); the API never shows a secret's data; objects in
// use cannot be removed, and bad input is refused with nothing stored.
func TestSecretsAndConfigs(t *testing.T) {
	registry := testimage.ServeRegistry(t)
	ref := testimage.Push(t, registry, "busybox:latest", testimage.Image(t))
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d := StartDaemon(t, "--insecure-registry", registry, "--metrics-addr", metricsAddr)
	initSwarm(t, d)

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The value has characters JSON escapes, so that its JSON form differs
	// from the raw one.
	const secretValue = `s3cret-value <&> "quoted" \ end`
	d.Docker("secret", "create", "db_pass", write("pass", secretValue))
	d.Docker("config", "create", "app.conf", write("conf", "listen 8080\n"))

	t.Run("ls and inspect, without the secret's data", func(t *testing.T) {
		if out := d.Docker("secret", "ls", "--format", "{{.Name}}"); strings.TrimSpace(out) != "db_pass" {
			t.Fatalf("secret ls = %q, want db_pass", out)
		}
		if out := d.Docker("secret", "inspect", "db_pass"); strings.Contains(out, "s3cret") || !strings.Contains(out, `"Name": "db_pass"`) {
			t.Fatalf("secret inspect shows\n%s\nwant the secret without its data", out)
		}
		if out := d.Docker("config", "inspect", "--pretty", "app.conf"); !strings.Contains(out, "listen 8080") {
			t.Fatalf("config inspect --pretty shows\n%s\nwant its data", out)
		}
	})

	t.Run("a service sees its secret and config as files", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "sec",
			"--secret", "db_pass", "--secret", "source=db_pass,target=copy,mode=0400",
			"--config", "source=app.conf,target=/etc/app.conf",
			ref, "sleep", "3600")
		id := waitContainers(t, d, "sec", 1)[0]
		for _, tt := range []struct{ cmd, want string }{
			{"cat /run/secrets/db_pass", secretValue},
			{"stat -c %a /run/secrets/copy", "400"},
			{"stat -c %a /run/secrets/db_pass", "444"},
			{"cat /etc/app.conf", "listen 8080"},
			{"grep ' /run/secrets/db_pass ' /proc/mounts | cut -d' ' -f3", "tmpfs"},
		} {
			if out := d.Docker("exec", id, "sh", "-c", tt.cmd); strings.TrimSpace(out) != tt.want {
				t.Errorf("in the container, %s printed %q, want %q", tt.cmd, out, tt.want)
			}
		}
	})

	t.Run("the secret's plaintext is only in the task's tmpfs", func(t *testing.T) {
		// Every file under the data root (the raft log and snapshots,
		// encrypted with the manager's data key; the daemon's and
		// containerd's logs; the store) and the exec root, in every
		// encoding; the value must be in the task's secrets tmpfs and
		// nowhere else.
		if n := sweepSecret(t, []nodeRoots{{"the daemon", d.DataRoot, d.ExecRoot}}, secretValue); n["the daemon"] == 0 {
			t.Errorf("the value is not even in the task's tmpfs: the search cannot find it")
		}

		// What the daemon says: the events since the start, the metrics,
		// and inspect of every object that touches the secret.
		api := func(path string) string {
			resp, err := d.HTTPClient().Get("http://shoal" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		metrics, err := get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		said := map[string]string{
			"the events":          api("/events?since=0&until=" + strconv.FormatInt(time.Now().Unix()+1, 10)),
			"the metrics":         metrics,
			"service inspect":     d.Docker("service", "inspect", "sec"),
			"the tasks":           api("/tasks"),
			"container inspect":   d.Docker("container", "inspect", waitContainers(t, d, "sec", 1)[0]),
			"secret inspect":      d.Docker("secret", "inspect", "db_pass"),
			"the service's tasks": d.Docker("service", "ps", "--no-trunc", "sec"),
		}
		if !strings.Contains(said["the events"], `"Type":"secret"`) || !strings.Contains(said["the metrics"], "# TYPE") {
			t.Fatalf("the events or the metrics are not what was read:\n%s\n%s", said["the events"], said["the metrics"])
		}
		for name, out := range said {
			for _, f := range plaintext.Forms([]byte(secretValue)) {
				if strings.Contains(out, string(f.Bytes)) {
					t.Errorf("%s hold the secret's value (%s)", name, f.Name)
				}
			}
		}
	})

	t.Run("in use cannot be removed; unused can", func(t *testing.T) {
		if out, err := d.TryDocker("secret", "rm", "db_pass"); err == nil || !strings.Contains(out, "in use") {
			t.Fatalf("secret rm of a used secret: err %v, %q; want it refused as in use", err, out)
		}
		if out, err := d.TryDocker("config", "rm", "app.conf"); err == nil || !strings.Contains(out, "in use") {
			t.Fatalf("config rm of a used config: err %v, %q; want it refused as in use", err, out)
		}
		d.Docker("service", "rm", "sec")
		d.Docker("secret", "rm", "db_pass")
		d.Docker("config", "rm", "app.conf")
		if out := d.Docker("secret", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Fatalf("secret ls after rm = %q, want empty", out)
		}
	})

	t.Run("bad input is refused and nothing is stored", func(t *testing.T) {
		d.Docker("secret", "create", "taken", write("taken", "x"))
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"secret", "create", "taken", write("again", "y")}, "already exists"},
			{[]string{"secret", "create", "bad/name", write("bad", "y")}, "name"},
			{[]string{"service", "create", "--no-resolve-image", "--name", "ghost", "--secret", "nope", ref}, "nope"},
		} {
			out, err := d.TryDocker(tt.args...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("docker %s: err %v, %q; want it refused mentioning %q", strings.Join(tt.args, " "), err, out, tt.want)
			}
		}
		if out := d.Docker("secret", "ls", "--format", "{{.Name}}"); strings.TrimSpace(out) != "taken" {
			t.Errorf("secret ls = %q, want only taken", out)
		}
		if out := d.Docker("service", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("service ls = %q, want no service", out)
		}
	})
}

// nodeRoots are where one node keeps its state: the data root (the raft
// log and snapshots, the store, images, containerd's content and
// snapshots, the logs) and the exec root (containerd's state, the tasks'
// secrets tmpfs mounts).
type nodeRoots struct{ name, data, exec string }

// sweepSecret searches every file under each node's roots for value in
// every encoding internal/testutil/plaintext knows. A task's secrets
// tmpfs is where the value is meant to be, in clear: there it may be,
// and nowhere else. It returns, by node name, how many copies are in
// tmpfs mounts, for the caller to say where there must be some or none.
func sweepSecret(t *testing.T, nodes []nodeRoots, value string) map[string]int {
	t.Helper()
	inTmpfs := map[string]int{}
	for _, n := range nodes {
		tmpfs := secretsTmpfs(t, n.exec)
		for _, root := range []string{n.data, n.exec} {
			hits, err := plaintext.Find(root, []byte(value))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				if slices.ContainsFunc(tmpfs, func(m string) bool { return strings.HasPrefix(h.Path, m+"/") }) && h.Form == "raw" {
					inTmpfs[n.name]++
					continue
				}
				t.Errorf("%s: %s holds the secret's value", n.name, h)
			}
		}
	}
	return inTmpfs
}

// checkSecretsOnEveryNode gives a secret to a global service's tasks,
// one on each host, and sweeps every host's disk (sweepSecret): each must
// hold the value in its task's tmpfs and nowhere else — the managers'
// raft logs and snapshots, the workers' data roots, containerd's state
// and snapshots. Once the service and the secret are removed, no host
// may hold it anywhere, tmpfs mounts included.
func checkSecretsOnEveryNode(t *testing.T, hosts []Host) {
	const value = `every-node s3cret <&> "quoted" \ end`
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	m := hosts[0]
	m.Docker("secret", "create", "sweep", p)
	m.Docker(append([]string{"service", "create", "-d", "--no-resolve-image", "--name", "sweep", "--mode", "global", "--secret", "sweep", "busybox"}, sleeper...)...)
	var nodes []nodeRoots
	for _, h := range hosts {
		nodes = append(nodes, nodeRoots{h.Name, h.DataRoot, h.ExecRoot})
	}
	Eventually(t, 60*time.Second, func() string {
		if per := tasksByNode(m, "sweep"); len(per) != len(hosts) {
			return fmt.Sprintf("running tasks per node %v; want one on each of %d nodes", per, len(hosts))
		}
		return ""
	})
	inTmpfs := sweepSecret(t, nodes, value)
	for _, n := range nodes {
		if inTmpfs[n.name] == 0 {
			t.Errorf("%s: the value is not in its task's tmpfs (%v): the search cannot find it there", n.name, secretsTmpfs(t, n.exec))
		}
	}

	m.Docker("service", "rm", "sweep")
	Eventually(t, 60*time.Second, func() string {
		for _, n := range nodes {
			if mounts := secretsTmpfs(t, n.exec); len(mounts) > 0 {
				return fmt.Sprintf("%s still has secrets mounted at %v after service rm", n.name, mounts)
			}
		}
		return ""
	})
	m.Docker("secret", "rm", "sweep")
	for name, n := range sweepSecret(t, nodes, value) {
		t.Errorf("%s: %d copies of the value in tmpfs mounts after the service and the secret are removed", name, n)
	}
}

// secretsTmpfs lists the tmpfs mounts under execRoot in a directory named
// secrets: the tasks' secrets, where a secret's value must be.
func secretsTmpfs(t *testing.T, execRoot string) []string {
	t.Helper()
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "tmpfs" && strings.HasPrefix(f[1], execRoot+"/") && filepath.Base(filepath.Dir(f[1])) == "secrets" {
			out = append(out, f[1])
		}
	}
	return out
}
