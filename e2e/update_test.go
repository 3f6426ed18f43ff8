package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// TestUpdate rolls services to new images on one node with real
// containers: a seed-like rolling update, a rollback from a missing
// image, health checks that gate and kill, Shoal's canary and blue/green
// deployments, and a rolling update under load that must lose no request.
func TestUpdate(t *testing.T) {
	registry := testimage.ServeRegistry(t)
	v1 := testimage.Push(t, registry, "app:1", testimage.Image(t, testimage.WithEnv("VERSION=1")))
	v2 := testimage.Push(t, registry, "app:2", testimage.Image(t, testimage.WithEnv("VERSION=2")))
	// A bridge subnet of its own: the load test reaches the tasks at their
	// addresses, which daemons of other tests on the same default subnet
	// would shadow.
	cidr := fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(256))
	// The harness's clean-up script kills itself (its pgrep -f pattern
	// matches its own command line) before it deletes the bridge: delete
	// it here, after the daemon's clean-up.
	var bridge string
	t.Cleanup(func() {
		if bridge != "" {
			exec.Command("ip", "link", "del", bridge).Run()
		}
	})
	d := StartDaemon(t, "--insecure-registry", registry, "--bridge-cidr", cidr)
	bridge = d.Bridge
	initSwarm(t, d)
	d.Docker("pull", v1)
	d.Docker("pull", v2)

	// The sleeping tasks exit on SIGTERM (sleeper): stop-first updates
	// wait out no stop grace period.
	t.Run("a seed-like service rolls to a new image", func(t *testing.T) {
		d.Docker(append([]string{"service", "create", "-d", "--name", "seed", "--replicas", "10",
			"--update-parallelism", "2", "--update-delay", "1s", v1}, sleeper...)...)
		updWaitImages(t, d, "seed", 10, "/app:1")
		out := d.Docker("service", "update", "--image", v2, "seed")
		if !strings.Contains(out, "converged") {
			t.Fatalf("service update printed:\n%s\nwant it to end converged", out)
		}
		updWaitImages(t, d, "seed", 10, "/app:2")
		if st := updService(t, d, "seed").UpdateStatus; st == nil || st.State != swarm.UpdateStateCompleted {
			t.Fatalf("update status %+v, want completed", st)
		}
		d.Docker("service", "rm", "seed")
	})

	t.Run("an update to a missing image rolls every slot back", func(t *testing.T) {
		d.Docker(append([]string{"service", "create", "-d", "--name", "rb", "--replicas", "3", v1}, sleeper...)...)
		updWaitImages(t, d, "rb", 3, "/app:1")
		d.Docker("service", "update", "-d", "--no-resolve-image", "--update-failure-action", "rollback",
			"--update-monitor", "2s", "--image", registry+"/missing:1", "rb")
		Eventually(t, 2*time.Minute, func() string {
			st := updService(t, d, "rb").UpdateStatus
			if st == nil || st.State != swarm.UpdateStateRollbackCompleted {
				return fmt.Sprintf("update status %+v, want rollback_completed", st)
			}
			return ""
		})
		slots := map[int]string{}
		for _, task := range updRunning(t, d, "rb") {
			slots[task.Slot] = task.Spec.ContainerSpec.Image
		}
		for slot := 1; slot <= 3; slot++ {
			if !strings.Contains(slots[slot], "/app:1") {
				t.Errorf("slot %d runs %q after the rollback, want %s", slot, slots[slot], v1)
			}
		}
		msg := updService(t, d, "rb").UpdateStatus.Message
		t.Logf("rollback: %s", msg)
		if st := updService(t, d, "rb"); !strings.Contains(st.Spec.TaskTemplate.ContainerSpec.Image, "/app:1") {
			t.Errorf("spec image after the rollback %q, want %s", st.Spec.TaskTemplate.ContainerSpec.Image, v1)
		}
		d.Docker("service", "rm", "rb")
	})

	t.Run("a health check gates running and kills an unhealthy task", func(t *testing.T) {
		d.Docker("service", "create", "-d", "--name", "hc",
			"--health-cmd", "test -f /tmp/ready && test ! -f /tmp/bad", "--health-interval", "500ms",
			"--health-retries", "2", "--health-timeout", "5s", "--health-start-period", "10m", "--health-start-interval", "500ms",
			v1, "sleep", "3600")
		id := waitContainers(t, d, "hc", 1)[0]
		// Failing probes within the start period keep the task starting.
		Eventually(t, time.Minute, func() string {
			var h *container.Health
			if s := updInspect(t, d, id).State; s != nil {
				h = s.Health
			}
			if h == nil || len(h.Log) < 2 || h.Status != container.Starting {
				return fmt.Sprintf("container health %+v, want starting after two probes", h)
			}
			return ""
		})
		if got := updTasks(t, d, "hc")[0].Status.State; got != swarm.TaskStateStarting {
			t.Fatalf("task state %s before the first healthy probe, want starting", got)
		}
		if out := d.Docker("ps", "--filter", "id="+id, "--format", "{{.Status}}"); !strings.Contains(out, "(health: starting)") {
			t.Errorf("docker ps status %q, want (health: starting)", out)
		}

		d.Docker("exec", id, "touch", "/tmp/ready")
		Eventually(t, time.Minute, func() string {
			if n := len(updRunning(t, d, "hc")); n != 1 {
				return fmt.Sprintf("%d running tasks, want 1 once healthy", n)
			}
			return ""
		})
		if out := d.Docker("ps", "--filter", "id="+id, "--format", "{{.Status}}"); !strings.Contains(out, "(healthy)") {
			t.Errorf("docker ps status %q, want (healthy)", out)
		}
		if got := strings.TrimSpace(d.Docker("inspect", "--format", "{{.State.Health.Status}}", id)); got != "healthy" {
			t.Errorf("docker inspect health %q, want healthy", got)
		}

		d.Docker("exec", id, "touch", "/tmp/bad")
		const unhealthy = "task: non-zero exit (137): dockerexec: unhealthy container"
		Eventually(t, time.Minute, func() string {
			tasks := updTasks(t, d, "hc")
			failed, replaced := false, false
			for _, task := range tasks {
				switch {
				case task.Status.State == swarm.TaskStateFailed && task.Status.Err == unhealthy:
					failed = true
				case task.DesiredState == swarm.TaskStateRunning && task.Status.ContainerStatus != nil && task.Status.ContainerStatus.ContainerID != id:
					replaced = true
				}
			}
			if !failed || !replaced {
				return fmt.Sprintf("tasks %s, want one failed %q and its replacement", updStates(tasks), unhealthy)
			}
			return ""
		})
		d.Docker("service", "rm", "hc")
	})

	t.Run("canary, promote, and rollback of a canary", func(t *testing.T) {
		d.Docker(append([]string{"service", "create", "-d", "--name", "can", "--replicas", "4",
			"--update-parallelism", "2", "--update-monitor", "1s", v1}, sleeper...)...)
		updWaitImages(t, d, "can", 4, "/app:1")

		out := d.Shoal("service", "update", "--canary", "1", "--image", v2, "can")
		if !strings.Contains(out, "running beside the old ones") {
			t.Fatalf("shoal service update --canary printed:\n%s", out)
		}
		if got := updImages(updRunning(t, d, "can")); !slices.Equal(got, []string{"/app:1", "/app:1", "/app:1", "/app:1", "/app:2"}) {
			t.Fatalf("running during the canary: %v, want 4 old and 1 new", got)
		}
		if msg := updService(t, d, "can").UpdateStatus.Message; !strings.HasPrefix(msg, "canary: 1 of 1 new tasks running") {
			t.Errorf("update status message %q, want the canary's", msg)
		}
		if out := d.Shoal("service", "inspect", "can"); !strings.Contains(out, `"State": "waiting"`) {
			t.Errorf("shoal service inspect shows no waiting canary:\n%s", out)
		}

		d.Shoal("service", "promote", "can")
		updWaitImages(t, d, "can", 4, "/app:2")
		if st := updService(t, d, "can").UpdateStatus; st == nil || st.State != swarm.UpdateStateCompleted {
			t.Errorf("update status after promotion %+v, want completed", st)
		}
		if out := d.Shoal("service", "inspect", "--pretty", "can"); !strings.Contains(out, "State:\t\tpromoted") {
			t.Errorf("shoal service inspect --pretty shows no promoted canary:\n%s", out)
		}

		d.Shoal("service", "update", "--canary", "2", "--image", v1, "can")
		if got := updImages(updRunning(t, d, "can")); !slices.Equal(got, []string{"/app:1", "/app:1", "/app:2", "/app:2", "/app:2", "/app:2"}) {
			t.Fatalf("running during the second canary: %v, want 4 old and 2 new", got)
		}
		d.Shoal("service", "rollback", "can")
		updWaitImages(t, d, "can", 4, "/app:2")
		if out := d.Shoal("service", "inspect", "--pretty", "can"); !strings.Contains(out, "State:\t\trolled_back") {
			t.Errorf("shoal service inspect --pretty shows no rolled back canary:\n%s", out)
		}
		d.Docker("service", "rm", "can")
	})

	t.Run("blue/green switches every task at once", func(t *testing.T) {
		d.Docker(append([]string{"service", "create", "-d", "--name", "bg", "--replicas", "3",
			"--health-cmd", "true", "--health-interval", "500ms", v1}, sleeper...)...)
		updWaitImages(t, d, "bg", 3, "/app:1")
		d.Shoal("service", "update", "--blue-green", "--image", v2, "bg")
		if got := updImages(updRunning(t, d, "bg")); !slices.Equal(got, []string{"/app:1", "/app:1", "/app:1", "/app:2", "/app:2", "/app:2"}) {
			t.Fatalf("running before the switch: %v, want the 3 old and 3 new", got)
		}
		d.Shoal("service", "promote", "bg")
		updWaitImages(t, d, "bg", 3, "/app:2")
		d.Docker("service", "rm", "bg")
	})

	t.Run("a rolling update under load loses no request", func(t *testing.T) {
		// httpd serves its image's VERSION; on SIGTERM the task keeps
		// serving for 2 s, as a real server drains, while clients learn
		// it is going.
		serve := `mkdir -p /www && echo "$VERSION" > /www/index.html && trap 'sleep 2; kill $pid; exit 0' TERM; httpd -f -p 8080 -h /www & pid=$!; wait $pid`
		d.Docker("service", "create", "-d", "--name", "web", "--replicas", "3",
			"--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/index.html", "--health-interval", "500ms", "--health-timeout", "3s",
			"--update-order", "start-first", "--update-parallelism", "1", "--update-monitor", "1s",
			v1, "sh", "-c", serve)
		updWaitImages(t, d, "web", 3, "/app:1")

		load := startLoad(t, d, "web")
		d.Docker("service", "update", "--image", v2, "web")
		updWaitImages(t, d, "web", 3, "/app:2")
		res := load.stop()
		t.Logf("zero downtime: %d requests during the rolling update, %d failed; answers by version %v", res.requests, res.failed, res.versions)
		for _, e := range res.errors {
			t.Log(e)
		}
		if res.failed != 0 {
			t.Errorf("%d of %d requests failed during the rolling update, want 0", res.failed, res.requests)
		}
		if res.versions["1"] == 0 || res.versions["2"] == 0 {
			t.Errorf("answers by version %v: the load did not span the update", res.versions)
		}
		d.Docker("service", "rm", "web")
	})
}

// load sends requests to a service's running tasks at their bridge
// addresses, round robin, following which tasks run.
type load struct {
	cancel context.CancelFunc
	done   chan loadResult
}

type loadResult struct {
	requests, failed int
	versions         map[string]int // answers by body
	errors           []string       // the first few failures
}

const (
	maxLoadRequests = 2000
	maxLoadTime     = 60 * time.Second
	loadPace        = 5 * time.Millisecond
	targetRefresh   = 100 * time.Millisecond
)

// startLoad starts the load on service; stop ends it and reports. It
// ends by itself after maxLoadRequests requests or maxLoadTime.
func startLoad(t *testing.T, d *Daemon, service string) *load {
	ctx, cancel := context.WithTimeout(context.Background(), maxLoadTime)
	l := &load{cancel: cancel, done: make(chan loadResult, 1)}
	var (
		mu      sync.Mutex
		targets []string // guarded by mu
	)
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		ips := map[string]string{} // by container ID
		for ctx.Err() == nil {
			var next []string
			for _, task := range updTasksTry(d, service) {
				cs := task.Status.ContainerStatus
				// Only tasks meant to run and running (healthy): a load
				// balancer drops the others.
				if task.DesiredState != swarm.TaskStateRunning || task.Status.State != swarm.TaskStateRunning || cs == nil {
					continue
				}
				if ips[cs.ContainerID] == "" {
					ips[cs.ContainerID] = updContainerIP(d, cs.ContainerID)
				}
				if ip := ips[cs.ContainerID]; ip != "" {
					next = append(next, ip)
				}
			}
			mu.Lock()
			targets = next
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(targetRefresh):
			}
		}
	}()
	go func() {
		defer func() { <-refreshed }()
		res := loadResult{versions: map[string]int{}}
		hc := &http.Client{Timeout: 2 * time.Second}
		for i := 0; ctx.Err() == nil && res.requests < maxLoadRequests; i++ {
			mu.Lock()
			var target string
			if len(targets) > 0 {
				target = targets[i%len(targets)]
			}
			mu.Unlock()
			if target != "" {
				res.requests++
				body, err := updGet(hc, "http://"+target+":8080/index.html")
				if err != nil {
					res.failed++
					if len(res.errors) < 10 {
						res.errors = append(res.errors, err.Error())
					}
				} else {
					res.versions[body]++
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(loadPace):
			}
		}
		l.done <- res
	}()
	t.Cleanup(cancel)
	return l
}

func (l *load) stop() loadResult {
	l.cancel()
	return <-l.done
}

func updGet(hc *http.Client, u string) (string, error) {
	resp, err := hc.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// updAPI gets path from the daemon's API and decodes the answer into out.
func updAPI(d *Daemon, path string, out any) error {
	resp, err := d.HTTPClient().Get("http://shoal" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func updService(t *testing.T, d *Daemon, name string) swarm.Service {
	t.Helper()
	var svc swarm.Service
	if err := updAPI(d, "/services/"+name, &svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// updTasksTry lists a service's tasks; none when the API cannot.
func updTasksTry(d *Daemon, service string) []swarm.Task {
	f, _ := json.Marshal(map[string][]string{"service": {service}})
	var tasks []swarm.Task
	if err := updAPI(d, "/tasks?filters="+url.QueryEscape(string(f)), &tasks); err != nil {
		return nil
	}
	return tasks
}

func updTasks(t *testing.T, d *Daemon, service string) []swarm.Task {
	t.Helper()
	tasks := updTasksTry(d, service)
	if len(tasks) == 0 {
		t.Fatalf("service %s has no tasks", service)
	}
	return tasks
}

// updRunning lists the tasks of a service meant to run and running.
func updRunning(t *testing.T, d *Daemon, service string) []swarm.Task {
	t.Helper()
	var out []swarm.Task
	for _, task := range updTasksTry(d, service) {
		if task.DesiredState == swarm.TaskStateRunning && task.Status.State == swarm.TaskStateRunning {
			out = append(out, task)
		}
	}
	return out
}

// updImages is the sorted images of tasks, each cut to "/app:TAG".
func updImages(tasks []swarm.Task) []string {
	var out []string
	for _, task := range tasks {
		img := task.Spec.ContainerSpec.Image
		img, _, _ = strings.Cut(img, "@")
		if i := strings.LastIndex(img, "/"); i >= 0 {
			img = img[i:]
		}
		out = append(out, img)
	}
	slices.Sort(out)
	return out
}

func updStates(tasks []swarm.Task) string {
	var parts []string
	for _, task := range tasks {
		parts = append(parts, fmt.Sprintf("%d:%s/%s %q", task.Slot, task.DesiredState, task.Status.State, task.Status.Err))
	}
	return strings.Join(parts, ", ")
}

// updWaitImages waits until exactly n tasks of the service run, all of an
// image whose reference contains image, and no other task is meant to.
func updWaitImages(t *testing.T, d *Daemon, service string, n int, image string) {
	t.Helper()
	Eventually(t, 3*time.Minute, func() string {
		tasks := updTasksTry(d, service)
		running := 0
		for _, task := range tasks {
			if task.DesiredState != swarm.TaskStateRunning {
				continue
			}
			if task.Status.State != swarm.TaskStateRunning || !strings.Contains(task.Spec.ContainerSpec.Image, image) {
				return fmt.Sprintf("service %s: tasks %s, want %d running %s", service, updStates(tasks), n, image)
			}
			running++
		}
		if running != n {
			return fmt.Sprintf("service %s: %d tasks running %s, want %d", service, running, image, n)
		}
		return ""
	})
}

func updInspect(t *testing.T, d *Daemon, id string) container.InspectResponse {
	t.Helper()
	var c container.InspectResponse
	if err := updAPI(d, "/containers/"+id+"/json", &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// updContainerIP is the container's address on the node's bridge; empty
// when the API cannot tell.
func updContainerIP(d *Daemon, id string) string {
	var c container.InspectResponse
	if err := updAPI(d, "/containers/"+id+"/json", &c); err != nil || c.NetworkSettings == nil {
		return ""
	}
	for _, ep := range c.NetworkSettings.Networks {
		if ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress.String()
		}
	}
	return ""
}
