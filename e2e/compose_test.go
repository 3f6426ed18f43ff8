package e2e

import (
	"context"
	"encoding/json"
	"errors"
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

// composeShop is the seed documents' single-host app in busybox: a
// database that becomes healthy a moment after it starts, a one-shot
// migration that reaches it by name on the project's default network and
// writes into the database's volume, and a web server that
// starts only once both are done (service_healthy,
// service_completed_successfully) and serves a greeting and what the
// migration wrote. GREETING comes from the environment, so changing it
// changes web's configuration and nothing else's.
const composeShop = `services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "echo db starting; sleep 1; mkdir -p /www; echo db-ok > /www/index.html; touch /tmp/ready; echo db ready; exec httpd -f -p 80 -h /www"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 500ms
      retries: 60
    volumes:
      - dbdata:/data
    stop_grace_period: 1s
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "set -e; s=$$(wget -q -O- http://db/); echo \"migrated $$s\" > /data/migrated"]
    volumes:
      - dbdata:/data
    depends_on:
      db:
        condition: service_healthy
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www; echo \"$$GREETING, $$(cat /data/migrated)\" > /www/index.html; exec httpd -f -p 80 -h /www"]
    environment:
      GREETING: ${GREETING:-hello from web}
    volumes:
      - dbdata:/data:ro
    ports:
      - "127.0.0.1::80"
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 500ms
      retries: 60
    stop_grace_period: 1s
volumes:
  dbdata:
`

// composeSocket is a service that reaches the daemon through its socket
// bind-mounted at /var/run/docker.sock, as the seed documents' visualizer
// does, with the docker CLI bound in beside it.
const composeSocket = `services:
  viz:
    image: busybox:latest
    command: ["docker", "ps", "--format", "{{.Names}}"]
    volumes:
      - ${DOCKER_SOCKET}:/var/run/docker.sock
      - ${DOCKER_CLI}:/usr/local/bin/docker:ro
`

// composeBuilt builds its one service's image from testdata/built (a
// two-stage Dockerfile over busybox) with a build argument, and runs it.
const composeBuilt = `services:
  app:
    build:
      context: ${BUILT_CONTEXT}
      args:
        WHO: compose
    stop_grace_period: 1s
`

// fakeBuildx is a docker CLI plugin that says it is buildx and fails
// whatever it is asked to do.
const fakeBuildx = `#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
	echo '{"SchemaVersion":"0.1.0","Vendor":"e2e","Version":"v0.30.0"}'
	exit 0
fi
echo "buildx $* was called: this daemon has no BuildKit" >&2
exit 1
`

// composeBad has an error compose-go's schema check finds (a misspelt
// key) beside a volume and a service that a half-applied file would make.
const composeBad = `services:
  ok:
    image: busybox:latest
    volumes:
      - kept:/data
  web:
    image: busybox:latest
    restrat: always
volumes:
  kept:
`

// composeRun runs bin (shoal's compose or Debian's docker-compose) in
// dir against d and returns its output (stdout then stderr) and exit code.
func composeRun(t *testing.T, d *Daemon, dir string, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(d.Env(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	return "", -1
}

// composeState is what the tests read of a project's container.
type composeState struct {
	ID    string
	Name  string
	State struct {
		Status    string
		ExitCode  int
		StartedAt time.Time
		Health    *struct {
			Status string
			Log    []struct {
				End      time.Time
				ExitCode int
			}
		}
	}
	Config struct {
		Labels map[string]string
	}
}

// projectContainers inspects every container of a Compose project, by
// the label Compose gives them, keyed by service.
func projectContainers(t *testing.T, d *Daemon, project string) map[string]composeState {
	t.Helper()
	ids := strings.Fields(d.Docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+project))
	got := map[string]composeState{}
	if len(ids) == 0 {
		return got
	}
	var states []composeState
	if err := json.Unmarshal([]byte(d.Docker(append([]string{"inspect"}, ids...)...)), &states); err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		got[s.Config.Labels["com.docker.compose.service"]] = s
	}
	return got
}

// TestCompose brings a multi-service project up and down on one daemon
// with `shoal compose` (Docker Compose v5 as a library) and with Debian's
// docker-compose (Compose v1 on docker-py), as a user of a single Docker
// engine would.
func TestCompose(t *testing.T) {
	d := StartDaemon(t)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	dir := t.TempDir()
	for name, content := range map[string]string{"compose.yaml": composeShop, "socket.yaml": composeSocket, "bad.yaml": composeBad, "built.yaml": composeBuilt} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	compose := func(t *testing.T, env []string, args ...string) (string, int) {
		t.Helper()
		return composeRun(t, d, dir, env, shoalBin, append([]string{"compose"}, args...)...)
	}
	mustCompose := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		out, code := compose(t, env, args...)
		if code != 0 {
			t.Fatalf("shoal compose %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	page := func(t *testing.T, project string) string {
		t.Helper()
		addr := strings.TrimSpace(mustCompose(t, nil, "-p", project, "port", "web", "80"))
		body, err := get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("web of %s at %s: %v", project, addr, err)
		}
		return strings.TrimSpace(body)
	}
	t.Cleanup(func() {
		for _, p := range []string{"shop", "shopwait", "socket", "built"} {
			compose(t, nil, "-p", p, "down", "-v")
		}
	})

	var upIDs map[string]string
	t.Run("up -d starts each service after what it depends on", func(t *testing.T) {
		out := mustCompose(t, nil, "-p", "shop", "up", "-d")
		cs := projectContainers(t, d, "shop")
		if len(cs) != 3 {
			t.Fatalf("got containers of services %v, want db, migrate and web\n%s", slices.Sorted(maps.Keys(cs)), out)
		}
		upIDs = map[string]string{}
		for svc, c := range cs {
			upIDs[svc] = c.ID
			if want := "/shop-" + svc + "-1"; c.Name != want {
				t.Errorf("container of %s is named %q, want %q (Compose's PROJECT-SERVICE-N)", svc, c.Name, want)
			}
			if c.Config.Labels["com.docker.compose.project"] != "shop" || c.Config.Labels["com.docker.compose.config-hash"] == "" {
				t.Errorf("container of %s has labels %v, want Compose's project and config-hash", svc, c.Config.Labels)
			}
		}
		if m := cs["migrate"].State; m.Status != "exited" || m.ExitCode != 0 {
			t.Errorf("migrate is %s (exit %d), want exited 0", m.Status, m.ExitCode)
		}
		// web started only after db's first passing probe.
		db, web := cs["db"].State, cs["web"].State
		if db.Health == nil {
			t.Fatal("db has no health state")
		}
		var healthy time.Time
		for _, p := range db.Health.Log {
			if p.ExitCode == 0 && (healthy.IsZero() || p.End.Before(healthy)) {
				healthy = p.End
			}
		}
		if healthy.IsZero() || web.StartedAt.Before(healthy) {
			t.Errorf("web started at %s, db first healthy at %s: want web after", web.StartedAt, healthy)
		}
		if got, want := page(t, "shop"), "hello from web, migrated db-ok"; got != want {
			t.Errorf("web serves %q, want %q", got, want)
		}
	})

	t.Run("ps, logs and exec", func(t *testing.T) {
		out := mustCompose(t, nil, "-p", "shop", "ps")
		for _, want := range []string{"shop-db-1", "shop-web-1", "(healthy)"} {
			if !strings.Contains(out, want) {
				t.Errorf("compose ps lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "shop-migrate-1") {
			t.Errorf("compose ps shows the exited migrate without -a:\n%s", out)
		}
		if out := mustCompose(t, nil, "-p", "shop", "ps", "-a"); !strings.Contains(out, "shop-migrate-1") {
			t.Errorf("compose ps -a lacks the exited migrate:\n%s", out)
		}
		if out := mustCompose(t, nil, "-p", "shop", "logs", "db"); !strings.Contains(out, "db-1  | db ready") {
			t.Errorf("compose logs db lacks its output:\n%s", out)
		}
		if out := mustCompose(t, nil, "-p", "shop", "exec", "-T", "web", "cat", "/www/index.html"); strings.TrimSpace(out) != "hello from web, migrated db-ok" {
			t.Errorf("compose exec web cat: %q", out)
		}
		if _, code := compose(t, nil, "-p", "shop", "exec", "-T", "db", "sh", "-c", "exit 3"); code != 3 {
			t.Errorf("compose exec exited %d, want the command's 3", code)
		}
	})

	t.Run("a changed service is recreated and only it", func(t *testing.T) {
		if upIDs == nil {
			t.Skip("up failed")
		}
		mustCompose(t, []string{"GREETING=hello again"}, "-p", "shop", "up", "-d")
		cs := projectContainers(t, d, "shop")
		if cs["db"].ID != upIDs["db"] {
			t.Errorf("db was recreated (%s → %s), its configuration did not change", upIDs["db"], cs["db"].ID)
		}
		if cs["web"].ID == upIDs["web"] {
			t.Errorf("web was not recreated after its environment changed")
		}
		if got, want := page(t, "shop"), "hello again, migrated db-ok"; got != want {
			t.Errorf("web serves %q, want %q", got, want)
		}
	})

	t.Run("a container with the daemon socket bind-mounted reaches the API", func(t *testing.T) {
		docker, err := exec.LookPath("docker")
		if err != nil {
			t.Fatal(err)
		}
		env := []string{"DOCKER_SOCKET=" + d.Socket, "DOCKER_CLI=" + docker}
		out := mustCompose(t, env, "-f", "socket.yaml", "-p", "socket", "run", "--rm", "viz")
		if !strings.Contains(out, "shop-db-1") {
			t.Errorf("docker ps inside the container does not list the node's containers:\n%s", out)
		}
	})

	t.Run("down -v removes containers, volumes and the network", func(t *testing.T) {
		mustCompose(t, nil, "-p", "shop", "down", "-v")
		if cs := projectContainers(t, d, "shop"); len(cs) != 0 {
			t.Errorf("containers left after down: %v", cs)
		}
		if out := d.Docker("volume", "ls", "-q", "--filter", "label=com.docker.compose.project=shop"); strings.TrimSpace(out) != "" {
			t.Errorf("volumes left after down -v: %s", out)
		}
		if out := d.Docker("network", "ls", "-q", "--filter", "label=com.docker.compose.project=shop"); strings.TrimSpace(out) != "" {
			t.Errorf("networks left after down: %s", out)
		}
	})

	t.Run("up --wait returns once every service is healthy", func(t *testing.T) {
		mustCompose(t, nil, "-p", "shopwait", "up", "-d", "--wait")
		cs := projectContainers(t, d, "shopwait")
		for _, svc := range []string{"db", "web"} {
			if h := cs[svc].State.Health; h == nil || h.Status != "healthy" {
				t.Errorf("%s right after up --wait: health %+v, want healthy", svc, h)
			}
		}
		mustCompose(t, nil, "-p", "shopwait", "down", "-v")
	})

	t.Run("up --build builds the image and runs it", func(t *testing.T) {
		buildDir, err := filepath.Abs("testdata/built")
		if err != nil {
			t.Fatal(err)
		}
		// A buildx plugin is installed, as on most docker hosts: Compose
		// must still use the classic builder, the daemon having no
		// BuildKit.
		config := filepath.Join(t.TempDir(), "docker-config")
		if err := os.MkdirAll(filepath.Join(config, "cli-plugins"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(config, "cli-plugins", "docker-buildx"), []byte(fakeBuildx), 0o755); err != nil {
			t.Fatal(err)
		}
		env := []string{"BUILT_CONTEXT=" + buildDir, "DOCKER_CONFIG=" + config}
		out := mustCompose(t, env, "-f", "built.yaml", "-p", "built", "up", "-d", "--build")
		cs := projectContainers(t, d, "built")
		app, ok := cs["app"]
		if !ok || app.State.Status != "running" {
			t.Fatalf("after up --build: containers %+v, want app running\n%s", cs, out)
		}
		if got := inspect(d, app.ID, "{{.Config.Image}}"); got != "built-app" {
			t.Errorf("app runs image %q, want Compose's built-app", got)
		}
		if got, _ := d.TryDocker("exec", app.ID, "cat", "/out.txt"); strings.TrimSpace(got) != "hello, built on compose" {
			t.Errorf("app's /out.txt is %q, want what the build wrote", got)
		}
		mustCompose(t, env, "-f", "built.yaml", "-p", "built", "down", "--rmi", "local")
		if _, err := d.TryDocker("image", "inspect", "built-app"); err == nil {
			t.Errorf("built-app is still there after down --rmi local")
		}
	})

	t.Run("Debian's docker-compose", func(t *testing.T) {
		bin, err := exec.LookPath("docker-compose")
		if err != nil {
			t.Skip("docker-compose is not installed (Debian's docker-compose package; scripts/install-deps.sh installs it)")
		}
		v1 := func(t *testing.T, args ...string) string {
			t.Helper()
			out, code := composeRun(t, d, dir, nil, bin, append([]string{"-p", "shopv1"}, args...)...)
			if code != 0 {
				t.Fatalf("docker-compose %s: exit %d\n%s", strings.Join(args, " "), code, out)
			}
			return out
		}
		t.Cleanup(func() { composeRun(t, d, dir, nil, bin, "-p", "shopv1", "down", "-v") })
		v1(t, "up", "-d")
		out := v1(t, "ps")
		for _, want := range []string{"shopv1_db_1", "Up (healthy)", "shopv1_web_1", "shopv1_migrate_1", "Exit 0"} {
			if !strings.Contains(out, want) {
				t.Errorf("docker-compose ps lacks %q:\n%s", want, out)
			}
		}
		if out := v1(t, "logs", "--no-color", "db"); !strings.Contains(out, "db ready") {
			t.Errorf("docker-compose logs db lacks its output:\n%s", out)
		}
		if out := v1(t, "exec", "-T", "web", "cat", "/www/index.html"); strings.TrimSpace(out) != "hello from web, migrated db-ok" {
			t.Errorf("docker-compose exec web cat: %q", out)
		}
		// Without -T it needs a terminal: script gives it one. It runs
		// docker exec -it, or, with COMPOSE_INTERACTIVE_NO_CLI, its own
		// exec through docker-py and dockerpty.
		for _, env := range []string{"COMPOSE_INTERACTIVE_NO_CLI=", "COMPOSE_INTERACTIVE_NO_CLI=1"} {
			tty := exec.Command("script", "-qec", "docker-compose -p shopv1 exec web sh -c 'tty; echo exec-ok'", "/dev/null")
			tty.Dir, tty.Env = dir, append(d.Env(), env)
			if out, err := tty.CombinedOutput(); err != nil || !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "exec-ok") {
				t.Errorf("docker-compose exec web with a terminal (%s): %v\n%s", env, err, out)
			}
		}
		v1(t, "down", "-v")
		if cs := projectContainers(t, d, "shopv1"); len(cs) != 0 {
			t.Errorf("containers left after docker-compose down: %v", cs)
		}
		if out := d.Docker("volume", "ls", "-q"); strings.Contains(out, "shopv1") {
			t.Errorf("volumes left after docker-compose down -v: %s", out)
		}
	})

	t.Run("a bad compose file is refused and nothing is created", func(t *testing.T) {
		out, code := compose(t, nil, "-f", "bad.yaml", "-p", "bad", "up", "-d")
		if code == 0 || !strings.Contains(out, "restrat") {
			t.Errorf("up of a file with a misspelt key: exit %d, want an error naming it:\n%s", code, out)
		}
		if cs := projectContainers(t, d, "bad"); len(cs) != 0 {
			t.Errorf("containers created from a bad file: %v", cs)
		}
		if out := d.Docker("volume", "ls", "-q"); strings.Contains(out, "bad_kept") {
			t.Errorf("volume created from a bad file: %s", out)
		}
	})
}
