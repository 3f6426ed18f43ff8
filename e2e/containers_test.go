package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// httpdHello is a busybox web server on port 80 that answers "hello from
// web".
var httpdHello = []string{"sh", "-c", "mkdir -p /www; echo hello from web > /www/index.html; exec httpd -f -p 80 -h /www"}

// dockerIn runs the docker CLI against d with stdin, and returns its
// stdout, stderr and exit code (-1 when it could not run).
func dockerIn(t *testing.T, d *Daemon, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = d.Env()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

// inspect is docker inspect -f FORMAT, trimmed.
func inspect(d *Daemon, id, format string) string {
	out, _ := d.TryDocker("inspect", "-f", format, id)
	return strings.TrimSpace(out)
}

// get fetches a URL and returns its body, or why it could not.
func get(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestContainers drives plain containers on one node with the docker CLI
// as a user of a single Docker engine would: run in the foreground and
// detached, stdin, exit codes, a published port, logs, exec, the
// lifecycle, filters, bad input, restart policies across a SIGKILL of the
// daemon, and task containers beside them.
func TestContainers(t *testing.T) {
	d := StartDaemon(t)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	t.Cleanup(func() {
		if ids, _ := d.TryDocker("ps", "-aq", "--filter", "is-task=false"); strings.TrimSpace(ids) != "" {
			d.TryDocker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
	})

	t.Run("run --rm prints and leaves nothing", func(t *testing.T) {
		since := strconv.FormatInt(time.Now().Unix(), 10)
		out, errOut, code := dockerIn(t, d, "", "run", "--rm", "--name", "hi", "busybox", "echo", "hi")
		if out != "hi\n" || code != 0 {
			t.Fatalf("docker run --rm busybox echo hi: %q (stderr %q), exit %d; want hi, 0", out, errOut, code)
		}
		if ps := d.Docker("ps", "-aq"); strings.TrimSpace(ps) != "" {
			t.Fatalf("containers left after run --rm: %q", ps)
		}
		until := strconv.FormatInt(time.Now().Unix()+1, 10)
		events := d.Docker("events", "--since", since, "--until", until, "--filter", "container=hi", "--format", "{{.Action}}")
		if got := strings.Join(strings.Fields(events), " "); got != "create start die destroy" {
			t.Fatalf("docker events of the run: %q, want create start die destroy", got)
		}
	})

	t.Run("the exit code and stderr come through", func(t *testing.T) {
		out, errOut, code := dockerIn(t, d, "", "run", "--name", "three", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
		if code != 3 || out != "out\n" || errOut != "err\n" {
			t.Fatalf("docker run exit 3: stdout %q stderr %q exit %d; want out, err, 3", out, errOut, code)
		}
		if got := inspect(d, "three", "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 3" {
			t.Fatalf("inspect three = %q, want exited 3", got)
		}
	})

	t.Run("a command that is not there exits 127 and run --rm leaves nothing", func(t *testing.T) {
		_, errOut, code := dockerIn(t, d, "", "run", "--rm", "busybox", "no-such-command")
		if code != 127 || !strings.Contains(errOut, `exec: "no-such-command": executable file not found in $PATH`) {
			t.Fatalf("docker run of a missing command: exit %d, stderr %q; want 127 and runc's reason", code, errOut)
		}
		if ps := strings.TrimSpace(d.Docker("ps", "-a", "--format", "{{.Names}}")); ps != "three" {
			t.Fatalf("containers after a failed run --rm: %q, want three's alone", ps)
		}
	})

	t.Run("run -i carries stdin", func(t *testing.T) {
		out, errOut, code := dockerIn(t, d, "hello\nworld\n", "run", "-i", "--rm", "busybox", "cat")
		if out != "hello\nworld\n" || code != 0 {
			t.Fatalf("echo hello | docker run -i --rm busybox cat: %q (stderr %q) exit %d", out, errOut, code)
		}
	})

	t.Run("run -it with a terminal", func(t *testing.T) {
		// script gives the CLI the terminal -t needs.
		cmd := exec.Command("script", "-qec", "docker run -it --rm busybox sh -c 'tty; echo tty-ok'", "/dev/null")
		cmd.Env = d.Env()
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "tty-ok") {
			t.Fatalf("docker run -it: %v\n%s", err, out)
		}
	})

	port := freePort(t)
	t.Run("a published port answers on the node", func(t *testing.T) {
		d.Docker(append([]string{"run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:80", port), "--label", "tier=front", "busybox"}, httpdHello...)...)
		for _, host := range []string{"127.0.0.1", inspect(d, "web", "{{.NetworkSettings.Networks.bridge.Gateway}}")} {
			url := fmt.Sprintf("http://%s:%d/", host, port)
			Eventually(t, 20*time.Second, func() string {
				body, err := get(url)
				if err != nil || body != "hello from web\n" {
					return fmt.Sprintf("GET %s: %q %v", url, body, err)
				}
				return ""
			})
		}
		if got := inspect(d, "web", `{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}} {{.State.Running}} {{.HostConfig.RestartPolicy.Name}}`); got != fmt.Sprintf("%d true no", port) {
			t.Fatalf("inspect web = %q", got)
		}
		if ip := inspect(d, "web", "{{.NetworkSettings.Networks.bridge.IPAddress}}"); !strings.HasPrefix(ip, "172.27.") {
			t.Fatalf("web's address %q is not on the node bridge", ip)
		}
		if ps := d.Docker("ps", "--format", "{{.Names}} {{.Ports}}"); !strings.Contains(ps, fmt.Sprintf("web 0.0.0.0:%d->80/tcp", port)) {
			t.Fatalf("docker ps:\n%s\nwant web with its port", ps)
		}
	})

	t.Run("logs and exec", func(t *testing.T) {
		// line3 comes well after the others, so that it is the log's last.
		d.Docker("run", "-d", "--name", "talker", "busybox", "sh", "-c", "echo line1; echo line2 >&2; sleep 0.3; echo line3; exec sleep 3600")
		// Each stream in order; the order between the two is the order
		// the daemon read them in, as with dockerd.
		Eventually(t, 10*time.Second, func() string {
			if out, errOut, _ := dockerIn(t, d, "", "logs", "talker"); out != "line1\nline3\n" || errOut != "line2\n" {
				return fmt.Sprintf("docker logs talker: stdout %q, stderr %q", out, errOut)
			}
			return ""
		})
		if out, _, _ := dockerIn(t, d, "", "logs", "--tail", "1", "talker"); out != "line3\n" {
			t.Fatalf("docker logs --tail 1: %q", out)
		}
		if out := d.Docker("logs", "-t", "talker"); !strings.Contains(out, "Z line1") {
			t.Fatalf("docker logs -t: %q", out)
		}
		if out := d.Docker("exec", "web", "cat", "/www/index.html"); out != "hello from web\n" {
			t.Fatalf("docker exec web cat: %q", out)
		}
		if out, _, _ := dockerIn(t, d, "typed\n", "exec", "-i", "talker", "cat"); out != "typed\n" {
			t.Fatalf("docker exec -i talker cat: %q", out)
		}
		if out := d.Docker("top", "talker"); !strings.Contains(out, "sleep 3600") {
			t.Fatalf("docker top talker:\n%s", out)
		}
	})

	t.Run("docker cp both ways, running and stopped", func(t *testing.T) {
		d.Docker("exec", "talker", "sh", "-c", "mkdir -p /data/sub; echo a > /data/a.txt; echo b > /data/sub/b.txt; ln -s /data /lnk")
		dir := t.TempDir()
		d.Docker("cp", "talker:/data", dir)
		d.Docker("cp", "-L", "talker:/lnk", dir+"/followed")
		for _, f := range []string{"data/a.txt", "data/sub/b.txt", "followed/sub/b.txt"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || len(b) != 2 {
				t.Fatalf("docker cp out: %s = %q, %v", f, b, err)
			}
		}
		os.WriteFile(filepath.Join(dir, "local.txt"), []byte("from the host\n"), 0o644)
		d.Docker("cp", filepath.Join(dir, "local.txt"), "talker:/data/")
		if out := d.Docker("exec", "talker", "cat", "/data/local.txt"); out != "from the host\n" {
			t.Fatalf("docker cp in: %q", out)
		}
		if out, err := d.TryDocker("cp", "talker:/nothing", dir); err == nil || !strings.Contains(out, "Could not find the file /nothing in container") {
			t.Fatalf("docker cp of a missing path: %v %q", err, out)
		}
		// A container that does not run has its root filesystem still.
		d.Docker("cp", filepath.Join(dir, "local.txt"), "three:/copied.txt")
		d.Docker("cp", "three:/copied.txt", filepath.Join(dir, "back.txt"))
		if b, _ := os.ReadFile(filepath.Join(dir, "back.txt")); string(b) != "from the host\n" {
			t.Fatalf("docker cp through a stopped container: %q", b)
		}
	})

	t.Run("docker cp of a bad archive writes none of it", func(t *testing.T) {
		cpAllOrNothing(t, d)
	})

	t.Run("stop, start, restart, pause, rename, update, wait", func(t *testing.T) {
		d.Docker("stop", "-t", "1", "talker")
		if got := inspect(d, "talker", "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
			t.Fatalf("after stop: %q, want exited 137 (sleep ignores SIGTERM)", got)
		}
		d.Docker("start", "talker")
		started := inspect(d, "talker", "{{.State.StartedAt}}")
		if got := inspect(d, "talker", "{{.State.Running}}"); got != "true" {
			t.Fatalf("after start: running %q", got)
		}
		d.Docker("restart", "-t", "1", "talker")
		if got := inspect(d, "talker", "{{.State.Running}} {{.State.StartedAt}}"); got == "true "+started || !strings.HasPrefix(got, "true ") {
			t.Fatalf("after restart: %q (was started %s)", got, started)
		}
		if out := d.Docker("logs", "talker"); strings.Count(out, "line1") != 3 {
			t.Fatalf("logs after 3 runs:\n%s\nwant line1 three times", out)
		}
		d.Docker("pause", "talker")
		if got := inspect(d, "talker", "{{.State.Status}}"); got != "paused" {
			t.Fatalf("after pause: %q", got)
		}
		d.Docker("unpause", "talker")
		d.Docker("rename", "talker", "chatter")
		if got := inspect(d, "chatter", "{{.Name}}"); got != "/chatter" {
			t.Fatalf("after rename: %q", got)
		}
		d.Docker("update", "--memory", "64m", "--restart", "on-failure:2", "chatter")
		if got := inspect(d, "chatter", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"); got != "67108864 on-failure:2" {
			t.Fatalf("after update: %q", got)
		}

		d.Docker("run", "-d", "--name", "quick", "busybox", "sh", "-c", "sleep 1; exit 5")
		if out := strings.TrimSpace(d.Docker("wait", "quick")); out != "5" {
			t.Fatalf("docker wait quick = %q, want 5", out)
		}
	})

	t.Run("ps filters", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--filter", "status=exited"}, "quick three"},
			{[]string{"--filter", "exited=3"}, "three"},
			{[]string{"--filter", "name=^web$"}, "web"},
			{[]string{"--filter", "label=tier=front"}, "web"},
			{[]string{"--filter", "ancestor=busybox", "--filter", "status=running"}, "chatter web"},
			{[]string{"--filter", "publish=80"}, "web"},
			{[]string{"--filter", "since=three", "--filter", "status=exited"}, "quick"},
		} {
			out := d.Docker(append([]string{"ps", "-a", "--format", "{{.Names}}"}, tt.args...)...)
			if got := strings.Join(strings.Fields(out), " "); got != tt.want {
				t.Errorf("docker ps -a %s = %q, want %q", strings.Join(tt.args, " "), got, tt.want)
			}
		}
	})

	t.Run("bad input is refused and creates nothing", func(t *testing.T) {
		before := d.Docker("ps", "-a", "--format", "{{.ID}} {{.Names}}")
		for _, tt := range []struct {
			path, body string
			code       int
			want       string
		}{
			{"/containers/create", `{"Image":"nothing-here:1"}`, 404, "No such image: nothing-here:1"},
			{"/containers/create?name=web", `{"Image":"busybox","Cmd":["true"]}`, 409,
				`Conflict. The container name "/web" is already in use by container "`},
			{"/containers/create", `{"Image":"busybox","Cmd":["true"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"eighty"}]}}}`, 400,
				`invalid host port "eighty" for port 80/tcp`},
			{"/containers/create", `{"Image":"busybox","Cmd":["true"],"HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}`, 400,
				"invalid restart policy: unknown policy 'sometimes'"},
			{"/containers/create?name=a!", `{"Image":"busybox","Cmd":["true"]}`, 400, "Invalid container name (a!)"},
			{"/containers/create", `{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":1024}}`, 400, "Minimum memory limit allowed is 6MB"},
			{"/containers/create", `{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"nonet"}}`, 404, "network nonet not found"},
			{"/containers/create", `{"Image":"busybox"}`, 400, "no command specified"},
			{"/containers/create", `{"Image":"busybox","Cmd":["true"],"HostConfig":{"Runtime":"kata"}}`, 400,
				`HostConfig.Runtime: unknown runtime specified "kata"`},
		} {
			resp, err := d.HTTPClient().Post("http://shoal/v1.50"+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			var msg struct{ Message string }
			json.NewDecoder(resp.Body).Decode(&msg)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(msg.Message, tt.want) {
				t.Errorf("POST %s %s: %d %q; want %d mentioning %q", tt.path, tt.body, resp.StatusCode, msg.Message, tt.code, tt.want)
			}
		}
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"run", "--name", "web", "busybox", "true"}, `The container name "/web" is already in use`},
			{[]string{"run", "--restart", "sometimes", "busybox", "true"}, "invalid restart policy"},
			{[]string{"run", "-p", "99999:80", "busybox", "true"}, "99999"},
			{[]string{"run", "-p", fmt.Sprintf("%d:80", port), "busybox", "true"}, "port is already allocated"},
		} {
			out, err := d.TryDocker(tt.args...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("docker %s: %v %q; want a failure saying %q", strings.Join(tt.args, " "), err, out, tt.want)
			}
		}
		// The run refused at start (its port taken) was created: docker run
		// creates, then starts. Remove it, as its user would.
		if ids := strings.Fields(d.Docker("ps", "-aq", "--filter", "status=created")); len(ids) > 0 {
			d.Docker(append([]string{"rm"}, ids...)...)
		}
		if after := d.Docker("ps", "-a", "--format", "{{.ID}} {{.Names}}"); after != before {
			t.Fatalf("containers changed by refused requests:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("on-failure restarts with backoff, then gives up", func(t *testing.T) {
		d.Docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 1")
		Eventually(t, 20*time.Second, func() string {
			if got := inspect(d, "flaky", "{{.State.Status}} {{.RestartCount}}"); got != "exited 2" {
				return "flaky: " + got
			}
			return ""
		})
		if out := d.Docker("logs", "flaky"); strings.Count(out, "try") != 3 {
			t.Fatalf("logs of flaky: %q, want three tries", out)
		}
	})

	t.Run("rm -f removes a running container and its port", func(t *testing.T) {
		d.Docker("rm", "-f", "web")
		if _, err := d.TryDocker("inspect", "web"); err == nil {
			t.Fatal("web still there after rm -f")
		}
		if _, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
			t.Fatal("the port still answers after its container was removed")
		}
	})

	containerFilesAndStreams(t, d)

	t.Run("restart policies and running containers survive a SIGKILL of the daemon", func(t *testing.T) {
		d.Docker("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "3600")
		d.Docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done")
		alwaysPid := inspect(d, "always", "{{.State.Pid}}")
		tickerStarted := inspect(d, "ticker", "{{.State.StartedAt}}")
		d.Kill()
		if out, err := exec.Command("kill", "-9", alwaysPid).CombinedOutput(); err != nil {
			t.Fatalf("kill %s: %v %s", alwaysPid, err, out)
		}
		d.Start()
		Eventually(t, 20*time.Second, func() string {
			got := inspect(d, "always", "{{.State.Running}} {{.State.Pid}}")
			if !strings.HasPrefix(got, "true ") || got == "true "+alwaysPid {
				return fmt.Sprintf("always after the daemon's restart: %q (pid was %s)", got, alwaysPid)
			}
			return ""
		})
		if got := inspect(d, "ticker", "{{.State.Running}} {{.State.StartedAt}}"); got != "true "+tickerStarted {
			t.Fatalf("ticker after the daemon's restart: %q, want running since %s (adopted)", got, tickerStarted)
		}
		// Its output reaches the log again.
		n := func() int { return strings.Count(d.Docker("logs", "ticker"), "tick") }
		before := n()
		Eventually(t, 10*time.Second, func() string {
			if after := n(); after < before+3 {
				return fmt.Sprintf("ticker logged %d lines, then %d after the restart", before, after)
			}
			return ""
		})
	})

	t.Run("docker-py runs them too", func(t *testing.T) {
		if err := exec.Command("python3", "-c", "import docker").Run(); err != nil {
			t.Skip("docker-py is not installed (pip install docker)")
		}
		cmd := exec.Command("python3", "testdata/dockerpy/containers.py", fmt.Sprint(freePort(t)))
		cmd.Env = d.Env()
		out, err := cmd.CombinedOutput()
		want := []string{
			"run: hello py",
			"error: 4 bad",
			"detached: running",
			"started",
			"exec: inside",
			"list: ['pyweb']",
			"wait: 137",
			"removed: yes",
			"unknown image: ImageNotFound",
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Fatalf("docker-py: %v\n%s\nwant %q", err, out, w)
			}
		}
	})

	t.Run("task containers live beside plain ones, and one removed by hand is replaced", func(t *testing.T) {
		initSwarm(t, d)
		// Replaced after 100 ms rather than the default restart delay's 5 s.
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "svc", "--restart-delay", "100ms", "busybox", "sleep", "3600")
		task := waitContainers(t, d, "svc", 1)[0]
		if out := d.Docker("ps", "--filter", "is-task=true", "--format", "{{.Names}}"); !strings.HasPrefix(out, "svc.1.") {
			t.Fatalf("docker ps --filter is-task=true: %q", out)
		}
		if _, err := d.TryDocker("restart", task); err == nil {
			t.Fatal("docker restart of a task container succeeded; the swarm manages it")
		}
		d.Docker("rm", "-f", task)
		Eventually(t, 30*time.Second, func() string {
			ids := containers(d, "svc")
			if len(ids) != 1 || ids[0] == task {
				return fmt.Sprintf("svc's containers: %v (the removed one was %s)", ids, task)
			}
			return ""
		})
		if got := inspect(d, "always", "{{.State.Running}}"); got != "true" {
			t.Fatalf("a plain container beside the swarm: running %q", got)
		}
		// A task container's name is taken: a plain container may not
		// be created or renamed to it.
		taskName := strings.TrimSpace(d.Docker("ps", "-a", "--filter", "is-task=true", "--format", "{{.Names}}"))
		for _, args := range [][]string{{"create", "--name", taskName, "busybox", "true"}, {"rename", "always", taskName}} {
			if out, err := d.TryDocker(args...); err == nil || !strings.Contains(out, `The container name "/`+taskName+`" is already in use`) {
				t.Fatalf("docker %s with task container %s's name: %v\n%s", args[0], taskName, err, out)
			}
		}
		d.Docker("service", "rm", "svc")
	})

	t.Run("containers started together share a shim, and one killed or removed leaves the others", func(t *testing.T) {
		shim, group := sharedShim(t, d)
		// The first started the shim: its bundle, where the shim was
		// started, goes with it.
		first, rest := group[0], group[1:]
		d.Docker("kill", first)
		d.Docker("wait", first)
		d.Docker("rm", "-f", first)
		for _, id := range rest {
			if got := inspect(d, id, "{{.State.Running}}"); got != "true" {
				t.Fatalf("container %s after another of its shim was killed and removed: running %q", id, got)
			}
			if got := shimOf(t, d, id); got != shim {
				t.Fatalf("container %s: shim %d, was %d", id, got, shim)
			}
		}
		second := rest[0]
		if out := strings.TrimSpace(d.Docker("exec", second, "echo", "still here")); out != "still here" {
			t.Fatalf("exec in %s: %q", second, out)
		}
		d.Docker("stop", "-t", "1", second)
		if got := inspect(d, second, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
			t.Fatalf("stopped container %s: %q, want exited 137", second, got)
		}
		if got := inspect(d, rest[1], "{{.State.Running}}"); got != "true" {
			t.Fatalf("container %s after another of its shim was stopped: running %q", rest[1], got)
		}
		// A start after a task of its group was deleted gets a shim of
		// its own: the group's may be on its way out.
		d.Docker("start", second)
		if got := shimOf(t, d, second); got == shim {
			t.Errorf("container %s started again in the closed group's shim %d", second, shim)
		}
		d.Docker(append([]string{"rm", "-f"}, rest...)...)
		Eventually(t, 10*time.Second, func() string {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", shim)); err == nil {
				return fmt.Sprintf("shim %d still runs after its last container was removed", shim)
			}
			return ""
		})
	})

	t.Run("a shim that dies takes its group, and restart policies bring each back in a shim of its own", func(t *testing.T) {
		shim, group := sharedShim(t, d, "--restart", "always")
		pids := map[string]string{}
		for _, id := range group {
			pids[id] = inspect(d, id, "{{.State.Pid}}")
		}
		if out, err := exec.Command("kill", "-9", strconv.Itoa(shim)).CombinedOutput(); err != nil {
			t.Fatalf("kill shim %d: %v %s", shim, err, out)
		}
		// containerd clears a dead shim's tasks a moment after it died: a
		// restart meanwhile fails ("already exists") and is tried again.
		shims := map[string]int{}
		Eventually(t, 30*time.Second, func() string {
			for _, id := range group {
				got := inspect(d, id, "{{.State.Running}} {{.State.Pid}}")
				pid, ok := strings.CutPrefix(got, "true ")
				if !ok || pid == pids[id] {
					return fmt.Sprintf("container %s after its shim was killed: %q (pid was %s)", id, got, pids[id])
				}
				s, err := parentShim(pid)
				if err != nil || s == shim {
					return fmt.Sprintf("container %s after its shim %d was killed: process %s, shim %d (%v)", id, shim, pid, s, err)
				}
				shims[id] = s
			}
			return ""
		})
		distinct := map[int]bool{}
		for _, s := range shims {
			distinct[s] = true
		}
		if len(distinct) != len(group) {
			t.Errorf("%d containers restarted after their shim %d died run by shims %v, want one each", len(group), shim, shims)
		}
	})

	t.Run("a container runs with the runtime it names, a task with the default", func(t *testing.T) {
		def := os.Getenv("SHOAL_E2E_RUNTIME")
		if def == "" {
			def = "runc"
		}
		if got := strings.TrimSpace(d.Docker("info", "--format", "{{.DefaultRuntime}} {{range $n, $r := .Runtimes}}{{$n}}={{$r.Path}} {{end}}")); got !=
			def+" crun=/usr/bin/crun io.containerd.runc.v2=runc runc=runc" {
			t.Errorf("docker info: default runtime and runtimes %q, want %s, then crun, io.containerd.runc.v2 and runc", got, def)
		}
		names := []string{"runc", "crun"}
		if why := crunRefusesHost(); why != "" {
			t.Logf("crun left out: %s", why)
			names = names[:1]
		}
		for _, rt := range names {
			id := strings.TrimSpace(d.Docker("run", "-d", "--runtime", rt, "busybox", "sleep", "3600"))
			if got := inspect(d, id, "{{.HostConfig.Runtime}}"); got != rt {
				t.Errorf("--runtime %s: inspect shows runtime %q", rt, got)
			}
			if got := ranBy(t, id); got != rt {
				t.Errorf("--runtime %s: the container's state is %s's", rt, got)
			}
			// A second start is made from the same containerd container.
			d.Docker("restart", "-t", "0", id)
			if got := ranBy(t, id); got != rt {
				t.Errorf("--runtime %s: after a restart the container's state is %s's", rt, got)
			}
			d.Docker("rm", "-f", id)
		}
		id := strings.TrimSpace(d.Docker("create", "busybox", "true"))
		if got := inspect(d, id, "{{.HostConfig.Runtime}}"); got != def {
			t.Errorf("a container naming no runtime: inspect shows %q, want the default %s", got, def)
		}
		d.Docker("rm", id)

		if out, _ := d.TryDocker("info", "--format", "{{.Swarm.LocalNodeState}}"); strings.TrimSpace(out) != "active" {
			initSwarm(t, d)
		}
		d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "rt", "busybox", "sleep", "3600")
		task := waitContainers(t, d, "rt", 1)[0]
		if got := inspect(d, task, "{{.HostConfig.Runtime}}"); got != def {
			t.Errorf("a task's container: inspect shows runtime %q, want the default %s", got, def)
		}
		if got := ranBy(t, task); got != def {
			t.Errorf("a task's container: its state is %s's, want the default %s's", got, def)
		}
		d.Docker("service", "rm", "rt")
	})
}

// sharedShim runs three busybox sleep containers (with args before the
// image) one after another, checks that one shim runs them all, and
// returns it and the containers in the order they started; they are
// removed when t ends. A container removed first closes the group being
// filled (no container joins a group after a task of it was deleted), so
// the three open a group of their own: --shim-group-size (8) takes them.
func sharedShim(t *testing.T, d *Daemon, args ...string) (int, []string) {
	t.Helper()
	d.Docker("run", "--rm", "busybox", "true")
	var ids []string
	t.Cleanup(func() { d.TryDocker(append([]string{"rm", "-f"}, ids...)...) })
	shims := map[int]bool{}
	for range 3 {
		id := strings.TrimSpace(d.Docker(append(append([]string{"run", "-d"}, args...), "busybox", "sleep", "3600")...))
		ids = append(ids, id)
		shims[shimOf(t, d, id)] = true
	}
	if len(shims) != 1 {
		t.Fatalf("three containers started one after another run by %d shims (%v), want one", len(shims), shims)
	}
	return shimOf(t, d, ids[0]), ids
}

// shimOf is the PID of the containerd shim that runs container id.
func shimOf(t *testing.T, d *Daemon, id string) int {
	t.Helper()
	shim, err := parentShim(inspect(d, id, "{{.State.Pid}}"))
	if err != nil {
		t.Fatalf("container %s: %v", id, err)
	}
	return shim
}

// parentShim is the PID of the shim whose child (as a subreaper) process
// pid is: a container's process.
func parentShim(pid string) (int, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("process %q: %w", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			ppid, _ := strconv.Atoi(strings.TrimSpace(v))
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
			if got := strings.TrimSpace(string(comm)); got != "containerd-shim" {
				return 0, fmt.Errorf("parent %d of process %s is %q, not a shim", ppid, pid, got)
			}
			return ppid, nil
		}
	}
	return 0, fmt.Errorf("no PPid in /proc/%s/status", pid)
}

// crunRefusesHost says why crun cannot run containers here, if it cannot:
// it refuses every container on a host with hybrid cgroups whose cgroup2
// hierarchy has controllers, unless scripts/crun-on-hybrid.sh takes them.
func crunRefusesHost() string {
	b, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return ""
	}
	return fmt.Sprintf("hybrid cgroups with cgroup2 controllers (%s); run the test under scripts/crun-on-hybrid.sh", strings.TrimSpace(string(b)))
}

// ranBy says which OCI runtime keeps a running container's state: the runc
// shim has it keep it in /run/containerd/runc/NAMESPACE/ID, where runc
// writes state.json and crun a file named status.
func ranBy(t *testing.T, id string) string {
	t.Helper()
	dir := filepath.Join("/run/containerd/runc/shoal", id)
	var found []string
	for file, rt := range map[string]string{"state.json": "runc", "status": "crun"} {
		if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
			found = append(found, rt)
		}
	}
	if len(found) != 1 {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("container %s: runtimes %v by the state in %s (%v); want one", id, found, dir, entries)
	}
	return found[0]
}
