package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/authregistry"
	"github.com/shoal-project/shoal/internal/testutil/plaintext"
)

// TestRegistry logs in to a registry that requires a login, pushes to it
// and runs what was pushed on another node with --with-registry-auth,
// with the real docker CLI on a cluster of a manager and a worker; then
// the other image operations: save and load, history, prune.
func TestRegistry(t *testing.T) {
	const password = "e2e-Registry-Pa55word-7f3a"
	// The hosts live in network namespaces behind the cluster bridge:
	// the registry listens on every address, and the hosts reach it at the
	// bridge's gateway, over plain HTTP by --insecure-registry.
	reg := authregistry.Listen(t, "0.0.0.0:0", authregistry.Basic, "alice", password)
	_, port, _ := net.SplitHostPort(reg.Host)
	const gateway = "10.249.77.1" // startLocalCluster's subnet's
	c, hosts := startLocalCluster(t, 1, 1, "--insecure-registry", gateway+":"+port)
	if c.Gateway.String() != gateway {
		t.Fatalf("the cluster's gateway is %s, not %s", c.Gateway, gateway)
	}
	registry := net.JoinHostPort(gateway, port)
	mgr, worker := hosts[0], hosts[1]
	// The CLI keeps its login here, outside the hosts' data roots, which
	// must not hold the password in any form.
	cliConfig := t.TempDir()
	docker := func(h Host, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.DockerHost(), "DOCKER_CONFIG="+cliConfig)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// shoal's own CLI, with the same login. It and must fail the (sub)test
	// they are given: a subtest that fails its parent panics.
	shoalCLI := func(t *testing.T, h Host, args ...string) string {
		t.Helper()
		cmd := exec.Command(shoalBin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.DockerHost(), "DOCKER_CONFIG="+cliConfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("shoal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	must := func(t *testing.T, h Host, args ...string) string {
		t.Helper()
		out, err := docker(h, args...)
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	image := registry + "/team/app:v1"

	t.Run("login", func(t *testing.T) {
		out, err := docker(mgr, "login", "-u", "alice", "-p", "wrong", registry)
		if err == nil || !strings.Contains(out, "401 Unauthorized") {
			t.Fatalf("login with a wrong password: err %v, %q; want 401 Unauthorized", err, out)
		}
		if out := must(t, mgr, "login", "-u", "alice", "-p", password, registry); !strings.Contains(out, "Login Succeeded") {
			t.Fatalf("login: %q", out)
		}
	})

	t.Run("push", func(t *testing.T) {
		must(t, mgr, "tag", "busybox:latest", image)
		out := must(t, mgr, "push", image)
		for _, want := range []string{"The push refers to repository [" + registry + "/team/app]", ": Pushed", "v1: digest: sha256:", " size: "} {
			if !strings.Contains(out, want) {
				t.Errorf("docker push printed %q, want %q in it", out, want)
			}
		}
		if out := must(t, mgr, "push", image); !strings.Contains(out, "Layer already exists") {
			t.Errorf("second push printed %q, want Layer already exists", out)
		}
		if out := shoalCLI(t, mgr, "image", "push", image); !strings.Contains(out, "Layer already exists") || !strings.Contains(out, "v1: digest: sha256:") {
			t.Errorf("shoal image push printed %q, want Layer already exists and the digest", out)
		}
		if out, err := docker(mgr, "push", registry+"/team/none:v1"); err == nil || !strings.Contains(out, "An image does not exist locally with the tag: "+registry+"/team/none") {
			t.Errorf("push of an unknown image: err %v, %q", err, out)
		}
	})

	t.Run("a worker pulls with --with-registry-auth only", func(t *testing.T) {
		// Content that only the registry holds: a node that holds an
		// image serves it to the others without any registry
		// (docs/IMAGES-PEER.md), so the manager keeps no copy.
		private := registry + "/team/private:v1"
		must(t, mgr, "create", "--name", "privsrc", "busybox:latest", "true")
		must(t, mgr, "commit", "-c", "ENV PRIVATE=1", "privsrc", private)
		must(t, mgr, "push", private)
		must(t, mgr, "rm", "privsrc")
		must(t, mgr, "rmi", private)
		must(t, mgr, "service", "create", "--detach", "--name", "noauth", "--constraint", "node.role==worker", private, "sleep", "600")
		must(t, mgr, "service", "create", "--detach", "--name", "withauth", "--with-registry-auth", "--constraint", "node.role==worker", private, "sleep", "600")
		Eventually(t, 60*time.Second, func() string {
			out, _ := docker(mgr, "service", "ps", "--no-trunc", "--format", "{{.Name}} {{.CurrentState}} {{.Error}}", "noauth", "withauth")
			if !strings.Contains(out, "noauth.1 Rejected") || !strings.Contains(out, "No such image: "+registry+"/team/private:v1") {
				return "noauth not rejected for want of the image: " + out
			}
			if !strings.Contains(out, "withauth.1 Running") {
				return "withauth not running: " + out
			}
			return ""
		})
		// The service pins the digest the manager looked up with the
		// credentials, so the worker has the image by its repository.
		if out := must(t, worker, "image", "ls", "--format", "{{.Repository}}"); !strings.Contains(out, registry+"/team/private\n") {
			t.Errorf("the worker's images %q lack the pulled %s", out, private)
		}
		must(t, mgr, "service", "update", "--detach", "--with-registry-auth", "--env-add", "V=2", "withauth")
	})

	t.Run("save and load", func(t *testing.T) {
		tar := filepath.Join(t.TempDir(), "images.tar")
		must(t, mgr, "save", "-o", tar, image, "busybox:latest")
		must(t, mgr, "rmi", image)
		out := must(t, mgr, "load", "-i", tar)
		for _, want := range []string{"Loaded image: " + image, "Loaded image: busybox:latest"} {
			if !strings.Contains(out, want) {
				t.Errorf("docker load printed %q, want %q", out, want)
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		out := must(t, mgr, "history", "--no-trunc", "--format", "{{.ID}} {{.Size}}", "busybox:latest")
		id := strings.TrimSpace(must(t, mgr, "image", "inspect", "--format", "{{.ID}}", "busybox:latest"))
		if !strings.HasPrefix(out, id+" ") {
			t.Errorf("docker history printed %q, want it to start with the image ID %s", out, id)
		}
		if out := shoalCLI(t, mgr, "image", "history", "busybox:latest"); !strings.HasPrefix(out, "IMAGE ") || !strings.Contains(out, strings.TrimPrefix(id, "sha256:")[:12]) {
			t.Errorf("shoal image history printed %q, want docker's table with the image ID", out)
		}
	})

	t.Run("commit", func(t *testing.T) {
		must(t, mgr, "run", "-d", "--name", "changed", "busybox:latest", "sh", "-c", "echo committed-content > /hello; sleep 600")
		Eventually(t, 20*time.Second, func() string {
			if out, _ := docker(mgr, "exec", "changed", "cat", "/hello"); !strings.Contains(out, "committed-content") {
				return "the container has not written /hello yet: " + out
			}
			return ""
		})
		must(t, mgr, "commit", "-m", "add hello", "-a", "tester", "-c", `CMD ["cat", "/hello"]`, "changed", "committed:v1")
		must(t, mgr, "rm", "-f", "changed")
		if out := must(t, mgr, "run", "--rm", "committed:v1"); strings.TrimSpace(out) != "committed-content" {
			t.Errorf("a container of the committed image printed %q, want committed-content", out)
		}
		if out := must(t, mgr, "history", "--format", "{{.Comment}}", "committed:v1"); !strings.HasPrefix(out, "add hello\n") {
			t.Errorf("history of the committed image %q, want the commit message on top", out)
		}
		must(t, mgr, "rmi", "committed:v1")
	})

	t.Run("prune", func(t *testing.T) {
		must(t, mgr, "tag", "busybox:latest", "spare:v1")
		// A dangling image: the name moves to another one.
		must(t, mgr, "tag", "busybox:latest", "spare:v1")
		if out := must(t, mgr, "image", "prune", "-f"); !strings.Contains(out, "Total reclaimed space") || strings.Contains(out, "untagged: spare:v1") {
			t.Errorf("image prune printed %q", out)
		}
		// No container on the manager uses an image: -a takes them all
		// (older than a second). On the worker the task's image stays.
		if out := must(t, mgr, "image", "prune", "-a", "-f", "--filter", "until=1s"); !strings.Contains(out, "untagged: busybox:latest") {
			t.Errorf("image prune -a on the manager printed %q, want busybox:latest untagged", out)
		}
		if out := must(t, worker, "image", "prune", "-a", "-f"); strings.Contains(out, "/team/app") || !strings.Contains(out, "untagged: busybox:latest") {
			t.Errorf("image prune -a on the worker printed %q, want busybox:latest gone and the task's image kept", out)
		}
		if out := shoalCLI(t, mgr, "image", "prune", "-f"); !strings.Contains(out, "Total reclaimed space") {
			t.Errorf("shoal image prune printed %q", out)
		}
		if out := must(t, mgr, "system", "prune", "-f"); !strings.Contains(out, "Total reclaimed space") {
			t.Errorf("system prune printed %q", out)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, path, auth string
			code                     int
			want                     string
		}{
			{"malformed X-Registry-Auth on pull", "POST", "/images/create?fromImage=" + image, "!!not-base64", 400, "invalid X-Registry-Auth header"},
			{"malformed X-Registry-Auth on push", "POST", "/images/" + image + "/push", "e30K!", 400, "invalid X-Registry-Auth header"},
			{"malformed X-Registry-Auth on service create", "POST", "/services/create", "bm90IGpzb24=", 400, "not an AuthConfig in JSON"},
			{"push of a bad reference", "POST", "/images/UPPER%20case/push?tag=v1", "", 400, "invalid reference format"},
			{"push of an unknown image", "POST", "/images/nothing/push?tag=v1", "", 404, "An image does not exist locally with the tag: nothing"},
			{"save of an unknown image", "GET", "/images/get?names=nothing:v9", "", 404, "No such image: nothing:v9"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, body := registryAPICall(t, mgr, tt.method, tt.path, tt.auth, `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`)
				if code != tt.code || !strings.Contains(body, tt.want) {
					t.Errorf("%s %s: %d %s, want %d with %q", tt.method, tt.path, code, body, tt.code, tt.want)
				}
			})
		}
	})

	t.Run("the password is nowhere in the clear", func(t *testing.T) {
		tasks := strings.Fields(must(t, mgr, "service", "ps", "-q", "--no-trunc", "withauth"))
		shown := must(t, mgr, "service", "inspect", "withauth") + must(t, mgr, append([]string{"inspect", "--type", "task"}, tasks...)...)
		shown += must(t, mgr, "events", "--since", "0", "--until", fmt.Sprint(time.Now().Unix()))
		for _, f := range plaintext.Forms([]byte(password)) {
			if strings.Contains(shown, string(f.Bytes)) {
				t.Errorf("service inspect, task inspect or events show the password (%s)", f.Name)
			}
		}
		for _, h := range hosts {
			hits, err := plaintext.Find(h.DataRoot, []byte(password))
			if err != nil {
				t.Fatal(err)
			}
			for _, hit := range hits {
				t.Errorf("%s holds the registry password in the clear", hit)
			}
		}
	})
}

// registryAPICall sends one Engine API request to h with an X-Registry-Auth
// header when auth is set, and returns the status and body.
func registryAPICall(t *testing.T, h Host, method, path, auth, body string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", h.Socket)
	}}}
	req, err := http.NewRequest(method, "http://shoal"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("X-Registry-Auth", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
