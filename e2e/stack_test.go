package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/testutil/plaintext"
)

// stackApp is a stack both CLIs can deploy: a web service serving its
// secret through a published port, and a client on the same overlay
// network. The docker CLI reads no .env, so what changes comes from the
// environment. Both services' monitor is 1 s: a deploy with --detach=false
// waits that long (5 s by default) to see their tasks stay up.
const stackApp = `version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www; cp /run/secrets/token /www/index.html; exec httpd -f -p 80 -h /www"]
    ports:
      - "${PORT:-8080}:80"
    secrets: [token]
    networks: [front]
    stop_grace_period: 1s
    deploy:
      replicas: 2
      update_config:
        parallelism: 2
        monitor: 1s
  client:
    image: busybox:latest
    command: ["sleep", "3600"]
    environment:
      MSG: "${CLIENT_MSG:-hello}"
    networks: [front]
    stop_grace_period: 1s
    deploy:
      update_config:
        monitor: 1s
networks:
  front:
secrets:
  token:
    file: ./token.txt
`

// stackCompare has the keys whose conversion could differ between the
// docker CLI and Shoal's, for both to deploy and the stored specs to be
// compared.
const stackCompare = `version: "3.8"
services:
  api:
    image: busybox:latest
    entrypoint: ["sh", "-c"]
    command: ["exec httpd -f -p 8080"]
    hostname: "api-host"
    user: "0:0"
    working_dir: /tmp
    stop_grace_period: 2s
    stop_signal: SIGTERM
    cap_add: [net_admin]
    cap_drop: [mknod]
    init: true
    read_only: false
    dns: [10.0.0.2]
    dns_search: [example.com]
    environment:
      B: "2"
      A: "1"
    labels:
      com.example.container: "yes"
    healthcheck:
      test: ["CMD-SHELL", "true"]
      interval: 2s
      timeout: 1s
      retries: 2
      start_period: 1s
    ports:
      - target: 8080
        published: ${PORT}
        protocol: tcp
        mode: ingress
    networks:
      back:
        aliases: [api-alias]
    secrets:
      - source: pw
        target: password
        mode: 0400
    configs:
      - source: conf
        target: /etc/app.conf
    volumes:
      - type: tmpfs
        target: /scratch
        tmpfs:
          size: 1048576
    deploy:
      mode: replicated
      replicas: 1
      endpoint_mode: vip
      labels:
        com.example.service: api
      placement:
        constraints: [node.role == manager]
        preferences:
          - spread: node.labels.zone
        max_replicas_per_node: 2
      resources:
        limits:
          cpus: "0.5"
          memory: 64M
        reservations:
          cpus: "0.1"
          memory: 16M
      restart_policy:
        condition: on-failure
        delay: 1s
        max_attempts: 3
        window: 30s
      update_config:
        parallelism: 1
        delay: 1s
        failure_action: rollback
        monitor: 2s
        max_failure_ratio: 0.5
        order: start-first
      rollback_config:
        parallelism: 1
        monitor: 1s
  worker:
    image: busybox:latest
    command: sleep 3600
    stop_grace_period: 1s
    deploy:
      mode: global
networks:
  back:
    driver: overlay
    attachable: true
    labels:
      com.example.net: back
secrets:
  pw:
    file: ./token.txt
configs:
  conf:
    file: ./app.conf
`

// stackDepends is beyond the docker CLI: depends_on with conditions.
const stackDepends = `services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      start_period: 30s
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1"]
    deploy:
      mode: replicated-job
    depends_on:
      db:
        condition: service_healthy
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    depends_on:
      migrate:
        condition: service_completed_successfully
      db:
        condition: service_healthy
`

// stackConverge has a job, and a service whose command comes from the
// environment, for --detach=false to follow.
const stackConverge = `services:
  once:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1"]
    deploy:
      mode: replicated-job
      replicas: 2
  svc:
    image: busybox:latest
    command: ["sh", "-c", "${CMD:-exec sleep 3600}"]
    stop_grace_period: 1s
    deploy:
      update_config:
        monitor: 2s
        failure_action: pause
`

// stackVolumes has what a stack keeps on its node: a named volume whose
// data outlives the task, a tmpfs, and a config rendered per task from a
// golang template.
const stackVolumes = `version: "3.8"
services:
  kv:
    image: busybox:latest
    hostname: "{{.Service.Name}}-{{.Task.Slot}}"
    command: ["sh", "-c", "echo x >> /data/count; mkdir -p /www; { hostname; cat /etc/app.conf; wc -l < /data/count; } > /www/index.html; exec httpd -f -p 80 -h /www"]
    ports: ["8085:80"]
    volumes:
      - kvdata:/data
      - type: tmpfs
        target: /scratch
    configs:
      - source: appconf
        target: /etc/app.conf
    stop_grace_period: 1s
    deploy:
      placement:
        constraints: [node.role == manager]
      # What service update --detach=false waits to see the task stay up.
      update_config:
        monitor: 1s
configs:
  appconf:
    file: ./app.tmpl
    template_driver: golang
volumes:
  kvdata:
`

// TestStacks deploys stacks from compose files on a manager and a worker,
// with shoal stack deploy and with the docker CLI's docker stack deploy:
// a secret read inside the task, a service reached by its short name on the
// stack's overlay network, a port published through the routing mesh;
// redeploys that update only what changed, --prune, secret rotation,
// stack rm followed at once by a redeploy, depends_on ordering, the stored
// specs of both CLIs compared, and bad input that leaves nothing behind.
func TestStacks(t *testing.T) {
	_, hosts := startLocalCluster(t, 1, 1)
	m := hosts[0]
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("app.yml", stackApp)
	write("compare.yml", stackCompare)
	write("depends.yml", stackDepends)
	write("converge.yml", stackConverge)
	write("volumes.yml", stackVolumes)
	write("app.tmpl", "service {{ .Service.Name }} slot {{ .Task.Slot }}\n")
	write("app.conf", "listen 8080\n")
	const token = "s3cret-stack-token-1"
	write("token.txt", token)

	run := func(bin string, env []string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+m.DockerHost(), "DOCKER_CONFIG="+filepath.Join(m.DataRoot, "docker-config"))
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	shoal := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		out, err := run(shoalBin, env, args...)
		if err != nil {
			t.Fatalf("shoal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	docker := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		out, err := run("docker", env, args...)
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	get := func(t *testing.T, host Host, port int, want string) {
		t.Helper()
		Eventually(t, 30*time.Second, func() string {
			body, err := httpGet(fmt.Sprintf("http://%s:%d/", host.Addr, port))
			if err != nil || body != want {
				return fmt.Sprintf("GET %s:%d = %q, %v; want %q", host.Name, port, body, err, want)
			}
			return ""
		})
	}

	t.Run("shoal stack deploy: a secret in the task, a service by short name, a port through the mesh", func(t *testing.T) {
		out := shoal(t, nil, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "--detach=false", "s")
		for _, want := range []string{"Creating network s_front", "Creating secret s_token", "Creating service s_web", "Creating service s_client"} {
			if !strings.Contains(out, want) {
				t.Errorf("deploy output lacks %q:\n%s", want, out)
			}
		}
		if i, j := strings.Index(out, "Creating network"), strings.Index(out, "Creating secret"); i > j || j > strings.Index(out, "Creating service") {
			t.Errorf("deploy did not create networks, then secrets, then services:\n%s", out)
		}
		for _, h := range hosts {
			get(t, h, 8080, token)
		}
		client := taskContainer(t, hosts, "s_client")
		Eventually(t, 20*time.Second, func() string {
			if got, err := client.exec("wget", "-qO-", "http://web/"); err != nil || got != token {
				return fmt.Sprintf("client: wget http://web/ = %q, %v", got, err)
			}
			return ""
		})
		if ls := shoal(t, nil, "stack", "ls"); !regexp.MustCompile(`(?m)^s\s+2$`).MatchString(ls) {
			t.Errorf("shoal stack ls:\n%s\nwant s with 2 services", ls)
		}
		if ls := docker(t, nil, "stack", "ls"); !regexp.MustCompile(`(?m)^s\s+2\s*$`).MatchString(ls) {
			t.Errorf("docker stack ls:\n%s\nwant s with 2 services", ls)
		}
		for _, services := range []string{shoal(t, nil, "stack", "services", "s"), docker(t, nil, "stack", "services", "s")} {
			if !regexp.MustCompile(`s_web\s+replicated\s+2/2\s+busybox:latest\s+\*:8080->80/tcp`).MatchString(services) {
				t.Errorf("stack services:\n%s\nwant s_web with 2/2 replicas on *:8080", services)
			}
		}
		for _, ps := range []string{shoal(t, nil, "stack", "ps", "s"), docker(t, nil, "stack", "ps", "s")} {
			if n := strings.Count(ps, "Running"); n < 6 || !strings.Contains(ps, "s_web.2") || !strings.Contains(ps, "s_client.1") {
				t.Errorf("stack ps:\n%s\nwant 3 running tasks", ps)
			}
		}
		if ps := shoal(t, nil, "stack", "ps", "--no-trunc", "--filter", "desired-state=running", "-q", "s"); len(strings.Fields(ps)) != 3 {
			t.Errorf("shoal stack ps -q --no-trunc --filter desired-state=running: %q, want 3 task IDs", ps)
		}
	})

	serviceVersion := func(t *testing.T, name string) string {
		return strings.TrimSpace(docker(t, nil, "service", "inspect", "--format", "{{.Version.Index}}", name))
	}
	taskIDs := func(t *testing.T, name string) string {
		return strings.TrimSpace(docker(t, nil, "service", "ps", "-q", "--filter", "desired-state=running", name))
	}

	t.Run("a redeploy updates only the service that changed", func(t *testing.T) {
		web, client := serviceVersion(t, "s_web"), serviceVersion(t, "s_client")
		webTasks := taskIDs(t, "s_web")
		out := shoal(t, nil, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "s")
		if strings.Contains(out, "Updating") || strings.Contains(out, "Creating") {
			t.Errorf("redeploy of unchanged files:\n%s\nwant nothing created or updated", out)
		}
		if serviceVersion(t, "s_web") != web || serviceVersion(t, "s_client") != client {
			t.Error("a redeploy of unchanged files changed a service")
		}
		out = shoal(t, []string{"CLIENT_MSG=changed"}, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "s")
		if n := strings.Count(out, "Updating service"); n != 1 || !strings.Contains(out, "Updating service s_client") {
			t.Errorf("redeploy with the client's environment changed:\n%s\nwant exactly s_client updated", out)
		}
		if serviceVersion(t, "s_web") != web || taskIDs(t, "s_web") != webTasks {
			t.Error("s_web changed, or its tasks were replaced, though its spec did not change")
		}
		Eventually(t, 30*time.Second, func() string {
			env := docker(t, nil, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Env}}", "s_client")
			if !strings.Contains(env, "MSG=changed") {
				return "s_client env: " + env
			}
			return ""
		})
	})

	t.Run("a secret whose file changed is rotated and the old one removed", func(t *testing.T) {
		const token2 = "s3cret-stack-token-2"
		write("token.txt", token2)
		out := shoal(t, []string{"CLIENT_MSG=changed"}, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "--detach=false", "s")
		for _, want := range []string{"Rotating secret s_token: its content changed; creating s_token-2", "Updating service s_web", "Removing secret s_token (replaced by s_token-2)"} {
			if !strings.Contains(out, want) {
				t.Errorf("deploy output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Updating service s_client") {
			t.Errorf("s_client, which does not use the secret, was updated:\n%s", out)
		}
		get(t, m, 8080, token2)
		if ls := docker(t, nil, "secret", "ls", "--format", "{{.Name}}"); strings.Fields(ls)[0] != "s_token-2" || len(strings.Fields(ls)) != 1 {
			t.Errorf("secrets after the rotation: %q, want only s_token-2", ls)
		}
	})

	t.Run("--prune removes the services gone from the files", func(t *testing.T) {
		write("web-only.yml", strings.Split(stackApp, "  client:")[0]+"networks:\n  front:\nsecrets:\n  token:\n    file: ./token.txt\n")
		out := shoal(t, nil, "stack", "deploy", "-c", "web-only.yml", "--resolve-image", "never", "--prune", "s")
		if !strings.Contains(out, "Removing service s_client") || strings.Contains(out, "Removing service s_web") {
			t.Errorf("deploy --prune:\n%s\nwant s_client removed, s_web kept", out)
		}
		if out := docker(t, nil, "service", "ls", "--format", "{{.Name}}"); strings.TrimSpace(out) != "s_web" {
			t.Errorf("services after --prune: %q, want s_web", out)
		}
	})

	t.Run("stack rm, then an immediate redeploy", func(t *testing.T) {
		out := shoal(t, nil, "stack", "rm", "s")
		for _, want := range []string{"Removing service s_web", "Removing secret s_token-2", "Removing network s_front"} {
			if !strings.Contains(out, want) {
				t.Errorf("stack rm output lacks %q:\n%s", want, out)
			}
		}
		out = shoal(t, nil, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "--detach=false", "s")
		if !strings.Contains(out, "Creating network s_front") {
			t.Errorf("redeploy after rm:\n%s", out)
		}
		get(t, m, 8080, "s3cret-stack-token-2")
		shoal(t, nil, "stack", "rm", "s")
		for _, kind := range []string{"service", "secret", "config"} {
			if out := docker(t, nil, kind, "ls", "-q"); strings.TrimSpace(out) != "" {
				t.Errorf("%s ls after stack rm: %q", kind, out)
			}
		}
		if out := docker(t, nil, "network", "ls", "--filter", "label=com.docker.stack.namespace=s", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("networks of the stack after stack rm: %q", out)
		}
	})

	t.Run("docker stack deploy, ls, services, ps, rm", func(t *testing.T) {
		out := docker(t, nil, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "--detach=false", "d")
		if !strings.Contains(out, "Creating service d_web") {
			t.Errorf("docker stack deploy:\n%s", out)
		}
		for _, h := range hosts {
			get(t, h, 8080, "s3cret-stack-token-2")
		}
		client := taskContainer(t, hosts, "d_client")
		Eventually(t, 20*time.Second, func() string {
			if got, err := client.exec("wget", "-qO-", "http://web/"); err != nil || got != "s3cret-stack-token-2" {
				return fmt.Sprintf("client: wget http://web/ = %q, %v", got, err)
			}
			return ""
		})
		if services := docker(t, nil, "stack", "services", "d"); !strings.Contains(services, "d_client") || !strings.Contains(services, "2/2") {
			t.Errorf("docker stack services d:\n%s", services)
		}
		// A redeploy updates the secret's labels and the services, as
		// docker does.
		if out, err := run("docker", nil, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "d"); err != nil {
			t.Errorf("docker stack deploy again: %v\n%s", err, out)
		}
		// docker stack rm removes the networks right after the services,
		// while their tasks still stop: the daemon waits for them, so that
		// a deploy right after finds the names, subnets and VXLAN IDs free.
		for range 2 {
			out = docker(t, nil, "stack", "rm", "d")
			if !strings.Contains(out, "Removing network d_front") {
				t.Errorf("docker stack rm:\n%s", out)
			}
			if out := docker(t, nil, "network", "ls", "--filter", "label=com.docker.stack.namespace=d", "-q"); strings.TrimSpace(out) != "" {
				t.Errorf("networks of d after docker stack rm: %q", out)
			}
			docker(t, nil, "stack", "deploy", "-c", "app.yml", "--resolve-image", "never", "--detach=false", "d")
			get(t, m, 8080, "s3cret-stack-token-2")
		}
		docker(t, nil, "stack", "rm", "d")
	})

	t.Run("the docker CLI and shoal store the same specs", func(t *testing.T) {
		docker(t, []string{"PORT=9001"}, "stack", "deploy", "-c", "compare.yml", "--resolve-image", "never", "dkr")
		shoal(t, []string{"PORT=9002"}, "stack", "deploy", "-c", "compare.yml", "--resolve-image", "never", "shl")
		ids := objectNames(t, func(args ...string) string { return docker(t, nil, args...) })
		for _, svc := range []string{"api", "worker"} {
			dk := storedSpec(t, func(args ...string) string { return docker(t, nil, args...) }, "dkr_"+svc, "dkr", ids)
			sh := storedSpec(t, func(args ...string) string { return docker(t, nil, args...) }, "shl_"+svc, "shl", ids)
			if diff := cmp.Diff(indentJSON(t, dk), indentJSON(t, sh)); diff != "" {
				t.Errorf("%s: stored spec from docker stack deploy (-) and shoal stack deploy (+):\n%s", svc, diff)
			}
		}
		for _, kind := range []string{"network", "secret", "config"} {
			// Both networks are the same but for their VXLAN IDs.
			format := `{{json .Labels}} {{.Driver}} {{.Attachable}} {{.Internal}} {{range $k, $v := .Options}}` +
				`{{if ne $k "com.docker.network.driver.overlay.vxlanid_list"}}{{$k}}={{$v}} {{end}}{{end}}`
			if kind != "network" {
				format = "{{json .Spec.Labels}} {{json .Spec.Templating}}"
			}
			name := map[string]string{"network": "back", "secret": "pw", "config": "conf"}[kind]
			dk := strings.ReplaceAll(docker(t, nil, kind, "inspect", "--format", format, "dkr_"+name), `"dkr"`, `"X"`)
			sh := strings.ReplaceAll(docker(t, nil, kind, "inspect", "--format", format, "shl_"+name), `"shl"`, `"X"`)
			if dk != sh {
				t.Errorf("%s from docker stack deploy: %s\nfrom shoal stack deploy: %s", kind, dk, sh)
			}
		}
		docker(t, nil, "stack", "rm", "dkr")
		shoal(t, nil, "stack", "rm", "shl")
	})

	t.Run("depends_on: created after the dependency is healthy, or its job done", func(t *testing.T) {
		out := shoal(t, nil, "stack", "deploy", "-c", "depends.yml", "--resolve-image", "never", "dep")
		order := []string{
			"Deploy order (depends_on): dep_db, dep_migrate, dep_app",
			"Creating service dep_db",
			"Waiting for dep_db to be healthy before creating dep_migrate",
			"Creating service dep_migrate",
			"Waiting for dep_migrate to complete successfully before creating dep_app",
			"Creating service dep_app",
		}
		last := -1
		for _, want := range order {
			i := strings.Index(out, want)
			if i < last {
				t.Fatalf("deploy output:\n%s\nwant, in order: %q", out, order)
			}
			last = i
		}
		var db []swarm.Task
		if err := json.Unmarshal([]byte(docker(t, nil, "inspect", "--type", "task", strings.Fields(taskIDs(t, "dep_db"))[0])), &db); err != nil || len(db) != 1 {
			t.Fatalf("inspect dep_db's task: %v", err)
		}
		var migrate, app []swarm.Service
		json.Unmarshal([]byte(docker(t, nil, "service", "inspect", "dep_migrate")), &migrate)
		json.Unmarshal([]byte(docker(t, nil, "service", "inspect", "dep_app")), &app)
		if len(migrate) != 1 || len(app) != 1 {
			t.Fatal("dep_migrate or dep_app is missing")
		}
		if healthy := db[0].Status.Timestamp; migrate[0].CreatedAt.Before(healthy) {
			t.Errorf("dep_migrate was created at %v, before dep_db's task was healthy and running at %v", migrate[0].CreatedAt, healthy)
		}
		if app[0].CreatedAt.Sub(migrate[0].CreatedAt) < time.Second {
			t.Errorf("dep_app was created %v after dep_migrate, whose job takes a second", app[0].CreatedAt.Sub(migrate[0].CreatedAt))
		}
		shoal(t, nil, "stack", "rm", "dep")
	})

	t.Run("--detach=false returns once a job completes, and fails when an update does not converge", func(t *testing.T) {
		out := shoal(t, nil, "stack", "deploy", "-c", "converge.yml", "--resolve-image", "never", "--detach=false", "cv")
		if !strings.Contains(out, "job complete") || !strings.Contains(out, "Service converged") {
			t.Errorf("deploy --detach=false:\n%s\nwant the job complete and the service converged", out)
		}
		out, err := run(shoalBin, []string{"CMD=exit 3"}, "stack", "deploy", "-c", "converge.yml", "--resolve-image", "never", "--detach=false", "cv")
		if err == nil || !strings.Contains(out, "cv_svc: service update paused") || strings.Contains(out, "Updating service cv_once") {
			t.Errorf("deploy --detach=false of a command that fails: %v\n%s\nwant cv_svc's update paused, an error, cv_once untouched", err, out)
		}
		shoal(t, nil, "stack", "rm", "cv")
	})

	t.Run("bad input is refused before anything is created", func(t *testing.T) {
		for _, tt := range []struct{ name, file, want string }{
			{"yaml", "services:\n  web:\n    image: busybox\n   ports: [1]\n", "bad.yml:4: invalid YAML"},
			{"unknown key", "services:\n  web:\n    image: busybox\n    replica: 2\n", `bad.yml:4: services.web.replica: unknown key`},
			{"wrong type", "services:\n  web:\n    image: busybox\n    deploy:\n      replicas: two\n", `bad.yml:5: services.web.deploy.replicas: must be a whole number, got "two"`},
			{"undefined secret", "services:\n  web:\n    image: busybox\n    secrets: [nope]\n", `bad.yml:4: services.web.secrets: undefined secret "nope"`},
			{"undefined network", "services:\n  web:\n    image: busybox\n    networks: [nope]\n", `bad.yml:4: services.web.networks: undefined network "nope"`},
			{"undefined volume", "services:\n  web:\n    image: busybox\n    volumes: [\"nope:/data\"]\n", `bad.yml:4: services.web.volumes: undefined volume "nope"`},
			{"invalid port", "services:\n  web:\n    image: busybox\n    ports: [\"70000:80\"]\n", `bad.yml:4: services.web.ports.0: invalid port "70000:80"`},
			{"invalid duration", "services:\n  web:\n    image: busybox\n    stop_grace_period: soon\n", `bad.yml:4: services.web.stop_grace_period: invalid duration "soon"`},
			{"invalid memory", "services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n        limits:\n          memory: 1Q\n", `bad.yml:7: services.web.deploy.resources.limits.memory`},
			{"missing external network", "services:\n  web:\n    image: busybox\n    networks: [front, outside]\nnetworks:\n  front:\n  outside:\n    external: true\n", `network "outside" is declared as external, but could not be found`},
			{"missing external secret", "services:\n  web:\n    image: busybox\n    secrets: [pw]\nsecrets:\n  pw:\n    external: true\n", `secret "pw" is declared as external, but could not be found`},
		} {
			write("bad.yml", tt.file)
			out, err := run(shoalBin, nil, "stack", "deploy", "-c", "bad.yml", "--resolve-image", "never", "bad")
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("%s: %v\n%s\nwant it refused with %q", tt.name, err, out, tt.want)
			}
			if strings.Contains(out, "Creating") {
				t.Errorf("%s: something was created:\n%s", tt.name, out)
			}
		}
		for _, kind := range []string{"service", "network", "secret", "config"} {
			if out := docker(t, nil, kind, "ls", "-q", "--filter", "label=com.docker.stack.namespace=bad"); strings.TrimSpace(out) != "" {
				t.Errorf("%s ls after refused deploys: %q, want nothing", kind, out)
			}
		}
	})

	t.Run("docker stack deploy: a named volume outlives its task, a tmpfs, a templated config", func(t *testing.T) {
		docker(t, nil, "stack", "deploy", "-c", "volumes.yml", "--resolve-image", "never", "v")
		get(t, m, 8085, "v_kv-1\nservice v_kv slot 1\n1\n")
		kv := taskContainer(t, hosts, "v_kv")
		if mounts, err := kv.exec("cat", "/proc/mounts"); err != nil || !regexp.MustCompile(`(?m)^tmpfs /scratch tmpfs`).MatchString(mounts) {
			t.Errorf("no tmpfs at /scratch in the task: %v\n%s", err, mounts)
		}
		docker(t, nil, "service", "update", "--force", "--detach=false", "v_kv")
		get(t, m, 8085, "v_kv-1\nservice v_kv slot 1\n2\n")
		if out := docker(t, nil, "volume", "ls", "-q"); !strings.Contains(out, "v_kvdata") {
			t.Errorf("docker volume ls on the manager:\n%s\nwant v_kvdata", out)
		}
		docker(t, nil, "stack", "rm", "v")
		if out := docker(t, nil, "volume", "ls", "-q"); !strings.Contains(out, "v_kvdata") {
			t.Errorf("stack rm removed the volume: volume ls:\n%s", out)
		}
	})

	t.Run("no secret's plaintext under any data root, daemon logs included", func(t *testing.T) {
		for _, h := range hosts {
			for _, value := range []string{token, "s3cret-stack-token-2"} {
				hits, err := plaintext.Find(h.DataRoot, []byte(value))
				if err != nil {
					t.Fatal(err)
				}
				for _, hit := range hits {
					t.Errorf("%s: %s holds a stack secret in the clear", h.Name, hit)
				}
			}
		}
	})
}

func indentJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// objectNames maps the IDs of networks, secrets and configs to their names.
func objectNames(t *testing.T, docker func(...string) string) map[string]string {
	t.Helper()
	names := map[string]string{}
	for _, kind := range []string{"network", "secret", "config"} {
		args := []string{kind, "ls", "--format", "{{.ID}} {{.Name}}"}
		if kind == "network" {
			args = append(args, "--no-trunc")
		}
		for _, line := range strings.Split(strings.TrimSpace(docker(args...)), "\n") {
			if id, name, ok := strings.Cut(line, " "); ok {
				names[id] = name
			}
		}
	}
	return names
}

// storedSpec is a service's spec as the daemon stores it, with the stack's
// name replaced by X, object IDs by names, published ports and Shoal's own
// label removed.
func storedSpec(t *testing.T, docker func(...string) string, service, ns string, names map[string]string) swarm.ServiceSpec {
	t.Helper()
	var out []swarm.Service
	if err := json.Unmarshal([]byte(docker("service", "inspect", service)), &out); err != nil || len(out) != 1 {
		t.Fatalf("service inspect %s: %v", service, err)
	}
	spec := out[0].Spec
	delete(spec.Labels, "com.shoal.stack.spec")
	// The two stacks publish different ports, to run side by side.
	if spec.EndpointSpec != nil {
		for i := range spec.EndpointSpec.Ports {
			spec.EndpointSpec.Ports[i].PublishedPort = 0
		}
	}
	c := spec.TaskTemplate.ContainerSpec
	for i := range spec.TaskTemplate.Networks {
		spec.TaskTemplate.Networks[i].Target = names[spec.TaskTemplate.Networks[i].Target]
	}
	for _, s := range c.Secrets {
		s.SecretID = ""
	}
	for _, cf := range c.Configs {
		cf.ConfigID = ""
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.NewReplacer(`"`+ns+`_`, `"X_`, `"`+ns+`"`, `"X"`).Replace(string(data)))
	var norm swarm.ServiceSpec
	if err := json.Unmarshal(data, &norm); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(norm.TaskTemplate.Networks, func(a, b swarm.NetworkAttachmentConfig) int { return strings.Compare(a.Target, b.Target) })
	return norm
}
