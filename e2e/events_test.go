package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// TestEvents: on two managers, the events of a service's whole life written
// through one are read back from the other with docker events --since
// (the same as the first gives), with the containers' start and die;
// a Prometheus scrape follows the service as it scales; docker system df
// and docker stats print real figures; docker-py's events() reads the
// same stream.
func TestEvents(t *testing.T) {
	hosts := startCluster2(t)
	a, b := hosts[0], hosts[1]
	for _, h := range hosts {
		h.Docker("tag", "busybox:latest", "busybox:v2")
	}
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	running0 := scrapeValue(t, a, `swarm_manager_tasks_total{state="running"}`)
	lat := watchLatency(t, b)

	// A task that stops at once on SIGTERM, so that the update is quick.
	a.Docker("service", "create", "-d", "--no-resolve-image", "--name", "evweb", "--replicas", "1", "--stop-grace-period", "2s",
		"busybox:latest", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done")
	waitRunning(t, a, "evweb", 1)
	a.Docker("service", "update", "-d", "--replicas", "2", "evweb")
	waitRunning(t, a, "evweb", 2)
	Eventually(t, 20*time.Second, func() string {
		if got := scrapeValue(t, a, `swarm_manager_tasks_total{state="running"}`); got != running0+2 {
			return fmt.Sprintf("swarm_manager_tasks_total{state=\"running\"} = %v, want %v", got, running0+2)
		}
		if got := scrapeValue(t, b, `shoal_service_tasks{service="evweb",state="running"}`); got != 2 {
			return fmt.Sprintf("on the other manager shoal_service_tasks running = %v, want 2", got)
		}
		return ""
	})
	t.Logf("scrape: swarm_manager_tasks_total{state=\"running\"} %v → %v as evweb scaled 0 → 2", running0, running0+2)

	checkDiskAndStats(t, hosts)

	a.Docker("service", "update", "-d", "--no-resolve-image", "--image", "busybox:v2", "evweb")
	Eventually(t, 40*time.Second, func() string {
		// Without an UpdateStatus yet (the updater has not begun), the
		// template fails.
		out, _ := a.TryDocker("service", "inspect", "--format", "{{.UpdateStatus.State}}", "evweb")
		if st := strings.TrimSpace(out); st != "completed" {
			return "update state " + st
		}
		return ""
	})
	a.Docker("service", "rm", "evweb")

	// The whole life, read from B, then the same from A.
	want := []string{
		"create name=evweb",
		"update name=evweb replicas.new=2 replicas.old=1",
		"update image.new=busybox:v2 image.old=busybox:latest name=evweb",
		"update name=evweb updatestate.new=updating",
		"update name=evweb updatestate.new=completed updatestate.old=updating",
		"remove name=evweb",
	}
	var fromB []events.Message
	Eventually(t, 20*time.Second, func() string {
		fromB = dockerEvents(t, b, since, "type=service", "service=evweb")
		if missing := missingIn(summaries(fromB), want); len(missing) > 0 {
			return fmt.Sprintf("manager B's events lack %q; got %q", missing, summaries(fromB))
		}
		return ""
	})
	fromA := dockerEvents(t, a, since, "type=service", "service=evweb")
	if !slices.EqualFunc(fromA, fromB, sameEvent) {
		t.Errorf("the managers tell different stories:\nA %q\nB %q", summaries(fromA), summaries(fromB))
	}
	t.Logf("manager B's events of the service: %q", summaries(fromB))

	// Containers started and died on both hosts, with their exit codes.
	var starts, dies int
	Eventually(t, 20*time.Second, func() string {
		starts, dies = 0, 0
		for _, h := range hosts {
			for _, m := range dockerEvents(t, h, since, "type=container", "event=start", "event=die") {
				if m.Actor.Attributes["com.docker.swarm.service.name"] != "evweb" {
					continue
				}
				switch m.Action {
				case events.ActionStart:
					starts++
				case events.ActionDie:
					if _, ok := m.Actor.Attributes["exitCode"]; !ok {
						return fmt.Sprintf("die without exitCode: %+v", m.Actor)
					}
					dies++
				}
			}
		}
		// 2 replicas, each replaced once by the update, then all removed.
		if starts < 4 || dies < 4 {
			return fmt.Sprintf("%d starts and %d dies, want 4 of each", starts, dies)
		}
		return ""
	})

	checkDockerPy(t, b, since)
	lat.report(t)
}

// startCluster2 is a local cluster of two managers whose daemons serve
// metrics on their own loopback.
func startCluster2(t *testing.T) []Host {
	t.Helper()
	_, hosts := startLocalCluster(t, 2, 0, "--metrics-addr=127.0.0.1:9323")
	return hosts
}

// dockerEvents runs docker events --since since --until now with the
// filters on h and decodes what it prints.
func dockerEvents(t *testing.T, h Host, since string, filters ...string) []events.Message {
	t.Helper()
	args := []string{"events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--format", "{{json .}}"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	var out []events.Message
	for _, line := range strings.Split(strings.TrimSpace(h.Docker(args...)), "\n") {
		if line == "" {
			continue
		}
		var m events.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("docker events printed %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// summaries gives each event as "ACTION k=v ...", sorted, with image
// digests left out: a manager pins a service's image to the digest it
// holds (docs/IMAGES-PEER.md), which the test cannot know in advance.
func summaries(ms []events.Message) []string {
	var out []string
	for _, m := range ms {
		var attrs []string
		for k, v := range m.Actor.Attributes {
			attrs = append(attrs, k+"="+imageDigest.ReplaceAllString(v, ""))
		}
		slices.Sort(attrs)
		out = append(out, strings.Join(append([]string{string(m.Action)}, attrs...), " "))
	}
	return out
}

var imageDigest = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

func missingIn(got, want []string) []string {
	var missing []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

func sameEvent(a, b events.Message) bool {
	return a.TimeNano == b.TimeNano && a.Action == b.Action && a.Actor.ID == b.Actor.ID &&
		slices.Equal(summaries([]events.Message{a}), summaries([]events.Message{b}))
}

// scrape reads h's /metrics from inside its network namespace.
func scrape(t *testing.T, h Host) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", h.Netns, "curl", "-sf", "http://127.0.0.1:9323/metrics").Output()
	if err != nil {
		t.Fatalf("scrape %s: %v", h.Name, err)
	}
	return string(out)
}

// scrapeValue is one sample's value in h's metrics; -1 when absent.
func scrapeValue(t *testing.T, h Host, sample string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, h), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("sample %q: %v", line, err)
			}
			return f
		}
	}
	return -1
}

// checkDiskAndStats runs docker system df and docker stats --no-stream on
// the hosts and checks that they print figures, not zeros.
func checkDiskAndStats(t *testing.T, hosts []Host) {
	t.Helper()
	df := hosts[0].Docker("system", "df")
	images := regexp.MustCompile(`(?m)^Images\s+(\d+)\s+(\d+)\s+([0-9.]+[kMG]?B)`).FindStringSubmatch(df)
	containers := regexp.MustCompile(`(?m)^Containers\s+(\d+)\s+(\d+)`).FindStringSubmatch(df)
	if images == nil || images[1] == "0" || images[3] == "0B" || containers == nil {
		t.Errorf("docker system df printed no image or container figures:\n%s", df)
	}
	t.Logf("docker system df:\n%s", df)
	var shown int
	for _, h := range hosts {
		out := h.Docker("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || !strings.HasPrefix(f[0], "evweb.") {
				continue
			}
			shown++
			// "0B / 0B" memory would mean no cgroup was read.
			if !strings.HasSuffix(f[1], "%") || strings.HasPrefix(f[2], "0B") || f[len(f)-1] == "0" {
				t.Errorf("docker stats row %q: want a CPU %%, memory in use and processes", line)
			}
		}
		t.Logf("docker stats --no-stream on %s:\n%s", h.Name, out)
	}
	if shown != 2 {
		t.Errorf("docker stats showed %d task containers, want 2", shown)
	}
}

// checkDockerPy reads the service's events through docker-py's events(),
// when Debian's python3-docker is installed.
func checkDockerPy(t *testing.T, h Host, since string) {
	t.Helper()
	if err := exec.Command("python3", "-c", "import docker").Run(); err != nil {
		t.Log("docker-py (python3-docker) is not installed: its events() check is skipped")
		return
	}
	script := `
import sys, time, docker
c = docker.DockerClient(base_url=sys.argv[1])
for e in c.events(since=int(sys.argv[2]), until=int(time.time()) + 1, decode=True, filters={"type": "service", "service": "evweb"}):
    print(e["Action"], e["Actor"]["Attributes"].get("name", ""))
`
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", script, h.DockerHost(), since).CombinedOutput()
	if err != nil {
		t.Fatalf("docker-py events(): %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || lines[0] != "create evweb" || lines[len(lines)-1] != "remove evweb" {
		t.Errorf("docker-py events() gave %q, want the service's create first and its remove last", lines)
	}
}

// latency follows a manager's event stream and, for each swarm event,
// how long after its store change (the batch's time, which the event
// carries) it reached this client.
type latency struct {
	got chan time.Duration
}

func watchLatency(t *testing.T, h Host) *latency {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.Socket)
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, `http://shoal/events?filters={"scope":["swarm"],"type":["service"]}`, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	l := &latency{got: make(chan time.Duration, 100)}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			now := time.Now()
			var m events.Message
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case l.got <- now.Sub(time.Unix(0, m.TimeNano)):
				default:
				}
			}
		}
	}()
	return l
}

func (l *latency) report(t *testing.T) {
	var ds []time.Duration
	for {
		select {
		case d := <-l.got:
			ds = append(ds, d)
			continue
		default:
		}
		break
	}
	if len(ds) == 0 {
		t.Error("the live stream on the other manager got no service event")
		return
	}
	slices.Sort(ds)
	t.Logf("store change → event on the other manager's stream: n=%d median=%v min=%v max=%v", len(ds), ds[len(ds)/2], ds[0], ds[len(ds)-1])
}
