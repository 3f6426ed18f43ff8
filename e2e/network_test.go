package e2e

import (
	"archive/tar"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// httpdHostname is a busybox web server that answers with its task's
// hostname (the container's short ID). Its shell stays PID 1 to exit on
// SIGTERM, which httpd as PID 1 ignores: a stop waits out no grace period.
var httpdHostname = []string{"busybox", "sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; hostname > /www/index.html; httpd -f -p 80 -h /www & wait"}

// TestNetworking drives overlay networks, service discovery, VIPs and the
// routing mesh on three hosts (a manager and two workers), each a network
// namespace with its own daemon, with the docker CLI. Traffic goes only
// between the namespaces the test made and its own on the cluster bridge.
func TestNetworking(t *testing.T) {
	c, hosts := startLocalCluster(t, 1, 2)
	m1, w1, w2 := hosts[0], hosts[1], hosts[2]
	udpecho := udpechoImage(t)
	for _, h := range hosts {
		h.Docker("import", udpecho, "udpecho:latest")
	}
	m1.Docker("network", "create", "-d", "overlay", "front")

	create := func(args ...string) {
		t.Helper()
		m1.Docker(append([]string{"service", "create", "-d", "--no-resolve-image"}, args...)...)
	}
	// At most 2 per node, so that a scale to 5 needs no other spec; the
	// spread puts the first 3 on the 3 hosts.
	create(append([]string{"--name", "web", "--network", "front", "--replicas", "3", "--replicas-max-per-node", "2"}, httpdHostname...)...)
	create("--name", "client", "--network", "front", "--constraint", "node.hostname==worker2", "busybox", "sleep", "3600")
	waitRunning(t, m1, "web", 3)
	waitRunning(t, m1, "client", 1)
	client := taskContainer(t, hosts, "client")

	t.Run("a client on another host reaches the service by name and hits tasks on every host", func(t *testing.T) {
		want := map[string]bool{}
		for _, h := range hosts {
			for _, id := range strings.Fields(h.Docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=web")) {
				want[id] = true
			}
		}
		if len(want) != 3 {
			t.Fatalf("web runs %d containers across the hosts, want 3 (one per host)", len(want))
		}
		got := map[string]bool{}
		Eventually(t, 30*time.Second, func() string {
			out, err := client.exec("wget", "-qO-", "http://web/")
			if err != nil {
				return "wget http://web/: " + out
			}
			got[strings.TrimSpace(out)] = true
			if len(got) < 3 {
				return fmt.Sprintf("answers from %v, want every task of %v", got, want)
			}
			return ""
		})
		for id := range got {
			if !want[id] {
				t.Errorf("answer from %q, which is no task of web (%v)", id, want)
			}
		}
	})

	t.Run("a worker lists the swarm networks it carries beside its own", func(t *testing.T) {
		got := w1.Docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
		for _, want := range []string{"front overlay swarm\n", "ingress overlay swarm\n", "bridge bridge local\n"} {
			if !strings.Contains(got, want) {
				t.Fatalf("worker1's network ls:\n%s\nwant %q in it", got, want)
			}
		}
		if got := w1.Docker("network", "inspect", "-f", "{{.Scope}} {{.Driver}}", "front"); strings.TrimSpace(got) != "swarm overlay" {
			t.Fatalf("worker1's network inspect front: %q", got)
		}
	})

	t.Run("the service name is its VIP and tasks.NAME its tasks", func(t *testing.T) {
		vip := strings.TrimSpace(m1.Docker("service", "inspect", "web", "--format",
			`{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}`))
		addrs := lookup(t, client, "web")
		if len(addrs) != 1 || !strings.Contains(vip, addrs[0]+"/") {
			t.Errorf("web resolves to %v, want its VIP on front, one of %q", addrs, vip)
		}
		if tasks := lookup(t, client, "tasks.web"); len(tasks) != 3 {
			t.Errorf("tasks.web resolves to %v, want the 3 tasks", tasks)
		}
	})

	t.Run("tasks.NAME follows a scale", func(t *testing.T) {
		m1.Docker("service", "scale", "-d", "web=5")
		var running, resolved time.Time
		Eventually(t, 60*time.Second, func() string {
			n := len(lookup(t, client, "tasks.web"))
			if running.IsZero() && countRunning(m1, "web") == 5 {
				running = time.Now()
			}
			if n != 5 {
				return fmt.Sprintf("tasks.web has %d addresses, want 5", n)
			}
			resolved = time.Now()
			return ""
		})
		if !running.IsZero() {
			t.Logf("tasks.web showed the 5th task %v after service ps showed it running (polled every 0.5 s)", resolved.Sub(running).Round(10*time.Millisecond))
		}
	})

	t.Run("a task's way out is apart from the default bridge and other tasks' ways out", func(t *testing.T) {
		// dockerd gives tasks their way out on docker_gwbridge (icc off),
		// apart from docker0: a container of the default bridge reaches
		// no task's way-out address, nor does one task another's
		// (checked side by side with dockerd 20.10).
		m1.Docker("service", "scale", "-d", "web=5")
		var h Host
		var tasks []string
		Eventually(t, 60*time.Second, func() string {
			for _, c := range hosts {
				if ids := strings.Fields(c.Docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=web")); len(ids) >= 2 {
					h, tasks = c, ids
					return ""
				}
			}
			return "no host runs two web tasks"
		})
		wayOut := func(id string) string {
			out := h.Docker("exec", id, "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'")
			return strings.Split(strings.TrimSpace(out), "/")[0]
		}
		a, b := wayOut(tasks[0]), wayOut(tasks[1])
		h.Docker("run", "-d", "--name", "onbridge", "busybox", "sleep", "3600")
		defer h.Docker("rm", "-f", "onbridge")
		if out, err := h.TryDocker("exec", "onbridge", "ping", "-c1", "-W1", a); err == nil {
			t.Errorf("a container of the default bridge reaches task %s at its way out %s: %s", tasks[0], a, out)
		}
		if out, err := h.TryDocker("exec", tasks[0], "ping", "-c1", "-W1", b); err == nil {
			t.Errorf("task %s reaches task %s at its way out %s: %s", tasks[0], tasks[1], b, out)
		}
	})

	t.Run("dnsrr resolves to the tasks", func(t *testing.T) {
		create("--name", "rr", "--endpoint-mode", "dnsrr", "--network", "front", "--replicas", "2", "busybox", "sleep", "3600")
		waitRunning(t, m1, "rr", 2)
		Eventually(t, 20*time.Second, func() string {
			if addrs := lookup(t, client, "rr"); len(addrs) != 2 {
				return fmt.Sprintf("rr resolves to %v, want its 2 tasks", addrs)
			}
			return ""
		})
		if vips := strings.TrimSpace(m1.Docker("service", "inspect", "rr", "--format", "{{len .Endpoint.VirtualIPs}}")); vips != "0" {
			t.Errorf("a dnsrr service has %s VIPs, want none", vips)
		}
	})

	t.Run("a published port answers on every host, including those without a task", func(t *testing.T) {
		create(append([]string{"--name", "pub", "-p", "8080:80", "--constraint", "node.hostname==worker1"}, httpdHostname...)...)
		waitRunning(t, m1, "pub", 1)
		task := strings.TrimSpace(w1.Docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=pub"))
		for _, h := range hosts {
			Eventually(t, 20*time.Second, func() string {
				body, err := httpGet(fmt.Sprintf("http://%s:8080/", h.Addr))
				if err != nil || strings.TrimSpace(body) != task {
					return fmt.Sprintf("GET %s:8080 got %q, %v; want the answer of %s", h.Name, body, err, task)
				}
				return ""
			})
		}
	})

	t.Run("UDP through the mesh keeps the source when the task is local", func(t *testing.T) {
		create("--name", "echo", "--publish", "published=5353,target=5353,protocol=udp", "--constraint", "node.hostname==worker1", "udpecho", "/bin/udpecho")
		create("--name", "echolocal", "--label", "com.shoal.ingress.local=true", "--publish", "published=5354,target=5353,protocol=udp",
			"--constraint", "node.hostname==worker1", "udpecho", "/bin/udpecho")
		waitRunning(t, m1, "echo", 1)
		waitRunning(t, m1, "echolocal", 1)
		self := c.Gateway.String() // the test's own address on the cluster bridge
		var local, remote string
		Eventually(t, 20*time.Second, func() string {
			var err error
			if local, err = udpAsk(w1.Addr.String(), 5353); err != nil {
				return "UDP to worker1 (the task's host): " + err.Error()
			}
			if remote, err = udpAsk(m1.Addr.String(), 5353); err != nil {
				return "UDP to manager1 (no task): " + err.Error()
			}
			return ""
		})
		if !strings.Contains(local, " "+self+":") {
			t.Errorf("through the task's own host the task saw %q, want the client's address %s", local, self)
		}
		if strings.Contains(remote, " "+self+":") {
			t.Errorf("through another host the task saw %q: the source should be that host's mesh address", remote)
		}
		Eventually(t, 20*time.Second, func() string {
			got, err := udpAsk(w1.Addr.String(), 5354)
			if err != nil || !strings.Contains(got, " "+self+":") {
				return fmt.Sprintf("local-only service through its own host: %q, %v", got, err)
			}
			return ""
		})
		if got, err := udpAsk(m1.Addr.String(), 5354); err == nil {
			t.Errorf("a local-only service answered through a host with no task: %q", got)
		}
	})

	t.Run("host-mode ports bind where tasks run and show in service ps", func(t *testing.T) {
		create(append([]string{"--name", "hostp", "--publish", "mode=host,target=80,published=8081", "--constraint", "node.hostname==worker2"}, httpdHostname...)...)
		waitRunning(t, m1, "hostp", 1)
		Eventually(t, 20*time.Second, func() string {
			if out := m1.Docker("service", "ps", "--format", "{{.Ports}}", "hostp"); !strings.Contains(out, "*:8081->80/tcp") {
				return "service ps PORTS: " + out
			}
			if _, err := httpGet(fmt.Sprintf("http://%s:8081/", w2.Addr)); err != nil {
				return "GET worker2:8081: " + err.Error()
			}
			return ""
		})
		if body, err := httpGet(fmt.Sprintf("http://%s:8081/", m1.Addr)); err == nil {
			t.Errorf("a host-mode port answered on a host without its task: %q", body)
		}
	})

	t.Run("an internal network has no way out", func(t *testing.T) {
		port := listenOutside(t, c.Gateway.String())
		m1.Docker("network", "create", "-d", "overlay", "--internal", "priv")
		create("--name", "inside", "--network", "priv", "busybox", "sleep", "3600")
		waitRunning(t, m1, "inside", 1)
		inside := taskContainer(t, hosts, "inside")
		dial := []string{"nc", "-w", "2", c.Gateway.String(), fmt.Sprint(port)}
		if out, err := inside.exec(dial...); err == nil {
			t.Errorf("a task on an internal network reached the outside: %s", out)
		}
		if out, err := client.exec(dial...); err != nil {
			t.Errorf("a task on a normal overlay did not reach the outside: %s", out)
		}
	})

	t.Run("an encrypted network's payload is not visible between hosts", func(t *testing.T) {
		if _, err := exec.LookPath("tcpdump"); err != nil {
			t.Skip("needs tcpdump")
		}
		m1.Docker("network", "create", "-d", "overlay", "--opt", "encrypted", "sec")
		create("--name", "sweb", "--network", "sec", "--constraint", "node.hostname==worker1", "busybox", "sh", "-c",
			"mkdir -p /www; echo MARKER-$((6*7))-PAYLOAD > /www/index.html; exec httpd -f -p 80 -h /www")
		create("--name", "sclient", "--network", "sec", "--constraint", "node.hostname==worker2", "busybox", "sleep", "3600")
		waitRunning(t, m1, "sweb", 1)
		waitRunning(t, m1, "sclient", 1)
		sclient := taskContainer(t, hosts, "sclient")
		capture := filepath.Join(t.TempDir(), "underlay.pcap")
		dump := exec.Command("tcpdump", "-i", c.Bridge, "-U", "-w", capture)
		if err := dump.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		var body string
		Eventually(t, 20*time.Second, func() string {
			out, err := sclient.exec("wget", "-qO-", "http://sweb/")
			if err != nil || !strings.Contains(out, "MARKER-42-PAYLOAD") {
				return fmt.Sprintf("wget http://sweb/ over the encrypted network: %q, %v", out, err)
			}
			body = out
			return ""
		})
		time.Sleep(time.Second)
		dump.Process.Signal(os.Interrupt)
		dump.Wait()
		data, err := os.ReadFile(capture)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "MARKER-42-PAYLOAD") {
			t.Fatalf("the payload (%q) is in the clear on the underlay", strings.TrimSpace(body))
		}
		out, _ := exec.Command("tcpdump", "-nr", capture, "udp port 4789").CombinedOutput()
		if n := strings.Count(string(out), "\n"); n > 1 {
			t.Errorf("plain VXLAN on the underlay during the transfer:\n%s", out)
		}
		out, _ = exec.Command("tcpdump", "-nr", capture, "udp port 4790").CombinedOutput()
		if !strings.Contains(string(out), ".4790 > ") {
			all, _ := exec.Command("tcpdump", "-nr", capture).CombinedOutput()
			t.Errorf("no WireGuard traffic on the underlay: the transfer went another way:\n%s", all)
		}
	})

	t.Run("a network in use cannot be removed", func(t *testing.T) {
		out, err := m1.TryDocker("network", "rm", "front")
		if err == nil || !strings.Contains(out, "network front is in use by service") {
			t.Fatalf("network rm front: %v, %s", err, out)
		}
	})

	t.Run("a full network leaves tasks pending with a message naming it", func(t *testing.T) {
		m1.Docker("network", "create", "-d", "overlay", "--subnet", "10.99.9.0/29", "tiny")
		create("--name", "crowd", "--network", "tiny", "--replicas", "6", "busybox", "sleep", "3600")
		Eventually(t, 30*time.Second, func() string {
			out := m1.Docker("service", "ps", "--no-trunc", "--format", "{{.CurrentState}} {{.Error}}", "crowd")
			if !strings.Contains(out, "could not allocate an IP address on network tiny") {
				return "service ps crowd:\n" + out
			}
			return ""
		})
	})

	t.Run("a task moved off a drained node is reachable at once by name", func(t *testing.T) {
		create(append([]string{"--name", "mover", "--network", "front", "--constraint", "node.role==worker"}, httpdHostname...)...)
		waitRunning(t, m1, "mover", 1)
		node := strings.TrimSpace(m1.Docker("service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", "mover"))
		first, _ := client.exec("wget", "-qO-", "http://mover/")
		m1.Docker("node", "update", "--availability", "drain", node)
		defer m1.Docker("node", "update", "--availability", "active", node)
		start := time.Now()
		var moved, reached time.Time
		Eventually(t, 60*time.Second, func() string {
			if moved.IsZero() && countRunning(m1, "mover") == 1 {
				if now := strings.TrimSpace(m1.Docker("service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", "mover")); now != node {
					moved = time.Now()
				}
			}
			if moved.IsZero() {
				return "mover still on " + node
			}
			for _, name := range []string{"mover", "tasks.mover"} {
				out, err := client.exec("wget", "-qO-", "http://"+name+"/")
				if err != nil || strings.TrimSpace(out) == strings.TrimSpace(first) {
					return fmt.Sprintf("http://%s/ got %q (%v), want the new task", name, out, err)
				}
			}
			reached = time.Now()
			return ""
		})
		t.Logf("drain → new task running %v; → reached by name and VIP %v later", moved.Sub(start).Round(10*time.Millisecond), reached.Sub(moved).Round(10*time.Millisecond))
	})

	t.Run("plain containers on an attachable overlay reach tasks and each other by name across hosts", func(t *testing.T) {
		testAttachable(t, c.Gateway.String(), m1, w1, w2, hosts, create)
	})

	t.Run("images reach every node without a registry", func(t *testing.T) { testImagePeer(t, m1, w1, w2) })

	t.Run("the ingress network can be recreated with another subnet", func(t *testing.T) {
		out, err := m1.TryDockerInput("y\n", "network", "rm", "ingress")
		if err == nil || !strings.Contains(out, "ingress network cannot be removed because service") {
			t.Fatalf("network rm ingress while services publish: %v, %s", err, out)
		}
		m1.Docker("service", "rm", "pub", "echo", "echolocal")
		Eventually(t, 30*time.Second, func() string {
			out, err := m1.TryDockerInput("y\n", "network", "rm", "ingress")
			if err != nil {
				return "network rm ingress: " + out
			}
			return ""
		})
		if out, err := m1.TryDocker("service", "create", "-d", "--no-resolve-image", "--name", "nomesh", "-p", "8093:80", "busybox", "true"); err == nil ||
			!strings.Contains(out, "no ingress network is present") {
			t.Fatalf("publish without an ingress network: %v, %s", err, out)
		}
		m1.Docker("network", "create", "-d", "overlay", "--ingress", "--subnet", "10.55.0.0/24", "mesh")
		create(append([]string{"--name", "pub2", "-p", "8082:80", "--constraint", "node.hostname==worker2"}, httpdHostname...)...)
		waitRunning(t, m1, "pub2", 1)
		vips := m1.Docker("service", "inspect", "--format", "{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}", "pub2")
		if !strings.HasPrefix(vips, "10.55.0.") {
			t.Errorf("pub2's VIP %q is not on the new ingress subnet", vips)
		}
		task := strings.TrimSpace(w2.Docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=pub2"))
		for _, h := range hosts {
			Eventually(t, 20*time.Second, func() string {
				body, err := httpGet(fmt.Sprintf("http://%s:8082/", h.Addr))
				if err != nil || strings.TrimSpace(body) != task {
					return fmt.Sprintf("GET %s:8082 got %q, %v; want the answer of %s", h.Name, body, err, task)
				}
				return ""
			})
		}
	})
}

// taskExec runs commands in one task's container on the host it runs on.
type taskExec struct {
	host Host
	id   string
}

func (c taskExec) exec(args ...string) (string, error) {
	return c.host.TryDocker(append([]string{"exec", c.id}, args...)...)
}

// taskContainer finds the container of a service's one running task.
func taskContainer(t *testing.T, hosts []Host, service string) taskExec {
	t.Helper()
	var found taskExec
	Eventually(t, 30*time.Second, func() string {
		for _, h := range hosts {
			if ids := strings.Fields(h.Docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service)); len(ids) == 1 {
				found = taskExec{host: h, id: ids[0]}
				return ""
			}
		}
		return "no container of " + service
	})
	return found
}

func countRunning(h Host, service string) int {
	n := 0
	for _, c := range tasksByNode(h, service) {
		n += c
	}
	return n
}

func waitRunning(t *testing.T, h Host, service string, n int) {
	t.Helper()
	Eventually(t, 90*time.Second, func() string {
		if got := countRunning(h, service); got != n {
			out, _ := h.TryDocker("service", "ps", "--no-trunc", service)
			return fmt.Sprintf("%s runs %d tasks, want %d:\n%s", service, got, n, out)
		}
		return ""
	})
}

// lookup resolves a name with the embedded DNS server from inside a task.
func lookup(t *testing.T, c taskExec, name string) []string {
	t.Helper()
	out, _ := c.exec("nslookup", name, "127.0.0.11")
	var addrs []string
	seenName := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Name:") {
			seenName = true
		}
		if seenName && strings.HasPrefix(line, "Address:") {
			addrs = append(addrs, strings.TrimSpace(strings.TrimPrefix(line, "Address:")))
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs)
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// udpAsk sends a datagram to host:port and returns the answer.
func udpAsk(host string, port int) (string, error) {
	conn, err := net.Dial("udp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	return string(buf[:n]), err
}

// udpechoImage returns a tarball of the busybox root filesystem with the
// udpecho server (e2e/testdata/udpecho) at /bin/udpecho.
func udpechoImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "udpecho")
	build := exec.Command("go", "build", "-o", bin, "./testdata/udpecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build udpecho: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "udpecho.tar")
	if err := appendFile(testimage.RootfsTar(t), out, bin, "bin/udpecho"); err != nil {
		t.Fatal(err)
	}
	return out
}

// appendFile copies the tar at src to dst with file added at name.
func appendFile(src, dst, file, name string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	return tw.Close()
}

// testAttachable runs plain containers (docker run, network connect) on
// an attachable overlay beside a service's task, on three hosts.
func testAttachable(t *testing.T, gateway string, m1, w1, w2 Host, hosts []Host, create func(...string)) {
	m1.Docker("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.99.7.0/24", "shared")
	create(append([]string{"--name", "peer", "--network", "shared", "--constraint", "node.hostname==worker2"}, httpdHostname...)...)
	waitRunning(t, m1, "peer", 1)
	peer := taskContainer(t, hosts, "peer")
	serve := func(name string) []string {
		return []string{"busybox", "sh", "-c", "mkdir -p /www; echo " + name + " > /www/index.html; exec httpd -f -p 80 -h /www"}
	}
	w1.Docker(append([]string{"run", "-d", "--name", "c1", "--network", "shared", "--network-alias", "one"}, serve("c1")...)...)
	m1.Docker(append([]string{"run", "-d", "--name", "c2", "--network", "shared"}, serve("c2")...)...)
	addr := strings.TrimSpace(w1.Docker("inspect", "-f", `{{(index .NetworkSettings.Networks "shared").IPAddress}}`, "c1"))
	if !strings.HasPrefix(addr, "10.99.7.") {
		t.Fatalf("c1's address on shared is %q, want one of 10.99.7.0/24", addr)
	}
	if got := w1.Docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "shared"); !strings.Contains(got, "c1") {
		t.Errorf("worker1's network inspect shared shows containers %q, want c1", got)
	}
	get := func(h Host, ctr, url, want string) {
		t.Helper()
		Eventually(t, 20*time.Second, func() string {
			out, err := h.TryDocker("exec", ctr, "wget", "-qO-", url)
			if err != nil || !strings.Contains(out, want) {
				return fmt.Sprintf("%s: wget %s: %v %q, want %q", ctr, url, err, out, want)
			}
			return ""
		})
	}
	peerHost := strings.TrimSpace(peer.host.Docker("exec", peer.id, "hostname"))
	get(w1, "c1", "http://peer/", peerHost)
	taskAddrs := lookup(t, peer, "tasks.peer")
	if len(taskAddrs) != 1 {
		t.Fatalf("tasks.peer resolves to %v, want the one task", taskAddrs)
	}
	get(w1, "c1", "http://"+taskAddrs[0]+"/", peerHost)
	resolves := func(name, want string) {
		t.Helper()
		Eventually(t, 10*time.Second, func() string {
			if got := lookup(t, peer, name); len(got) != 1 || got[0] != want {
				return fmt.Sprintf("the task resolves %s to %v, want %s", name, got, want)
			}
			return ""
		})
	}
	resolves("c1", addr)
	resolves("one", addr)
	get(peer.host, peer.id, "http://one/", "c1")
	get(m1, "c2", "http://c1/", "c1")
	get(w1, "c1", "http://c2/", "c2")
	if out, err := w1.TryDocker("exec", "c1", "nc", "-w", "2", gateway, fmt.Sprint(listenOutside(t, gateway))); err != nil {
		t.Errorf("c1 has no way out of the overlay: %v %s", err, out)
	}

	// Refusals leave no container, attachment nor interface.
	if out, err := w1.TryDocker("run", "-d", "--name", "bad", "--network", "front", "busybox", "true"); err == nil ||
		!strings.Contains(out, "Could not attach to network front: rpc error: code = PermissionDenied desc = network front not manually attachable") {
		t.Errorf("run on the non-attachable front: %v %s", err, out)
	}
	// (docker run takes a 404 for a missing image and tries a pull: the
	// raw answer is connect's.)
	if out, err := w1.TryDocker("network", "connect", "nosuch", "c1"); err == nil || !strings.Contains(out, "network nosuch not found") {
		t.Errorf("connect to a network that does not exist: %v %s", err, out)
	}
	if out, err := m1.TryDocker("run", "-d", "--name", "bad", "--network", "shared", "--ip", "10.99.7.1", "busybox", "true"); err == nil || !strings.Contains(out, "already in use") {
		t.Errorf("run with the gateway's address: %v %s", err, out)
	}
	for _, h := range []Host{w1, m1} {
		if out := h.Docker("ps", "-aq", "--filter", "name=^bad$"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: refused runs left containers: %q", h.Name, out)
		}
	}

	// connect and disconnect a running container, with an alias and an
	// address of its own.
	w2.Docker(append([]string{"run", "-d", "--name", "c3"}, serve("c3")...)...)
	w2.Docker("network", "connect", "--alias", "three", "--ip", "10.99.7.200", "shared", "c3")
	resolves("three", "10.99.7.200")
	get(w1, "c1", "http://three/", "c3")
	if out, err := m1.TryDocker("network", "connect", "shared", "c2"); err == nil || !strings.Contains(out, "already exists in network shared") {
		t.Errorf("connect of a container already on the network: %v %s", err, out)
	}
	w2.Docker("network", "disconnect", "shared", "c3")
	Eventually(t, 10*time.Second, func() string {
		if got := lookup(t, peer, "three"); len(got) != 0 {
			return fmt.Sprintf("three still resolves to %v after disconnect", got)
		}
		return ""
	})

	// Its way out on the node bridge is docker_gwbridge's part, which
	// dockerd shows neither in inspect, docker ps nor the bridge's
	// network inspect.
	if got := w1.Docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "c1"); strings.TrimSpace(got) != "shared" {
		t.Errorf("c1's inspect shows networks %q, want shared only", got)
	}
	if got := w1.Docker("ps", "--filter", "name=^c1$", "--format", "{{.Names}} {{.Networks}}"); strings.TrimSpace(got) != "c1 shared" {
		t.Errorf("docker ps shows c1 with networks %q, want shared only", got)
	}
	if got := w1.Docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "bridge"); strings.Contains(got, "c1") {
		t.Errorf("network inspect bridge shows containers %q, want no c1", got)
	}

	// docker node ps shows c1's attachment task only when asked for by
	// runtime, as dockerd 20.10 (whose CLI then fails to print it but
	// with -q: the task has no container spec).
	att := strings.Fields(m1.Docker("node", "ps", "-q", "--filter", "runtime=attachment", "worker1"))
	if len(att) != 1 {
		t.Errorf("node ps --filter runtime=attachment worker1 lists %v, want c1's attachment", att)
	}
	if all := m1.Docker("node", "ps", "-q", "worker1"); len(att) > 0 && strings.Contains(all, att[0]) {
		t.Errorf("node ps worker1 lists the attachment %s without a runtime filter:\n%s", att[0], all)
	}

	// A container on a local network and the overlay answers the names
	// of both, whichever was connected last, and the overlay's once the
	// local network is gone.
	w1.Docker("network", "create", "lnet")
	w1.Docker(append([]string{"run", "-d", "--name", "l1", "--network", "lnet"}, serve("l1")...)...)
	w1.Docker("run", "-d", "--name", "ovfirst", "--network", "shared", "busybox", "sleep", "3600")
	// As dockerd 20.10 names them (checked side by side): the overlay
	// eth0, its way out on the node bridge eth1, which holds the route.
	ovAddr := strings.TrimSpace(w1.Docker("inspect", "-f", "{{.NetworkSettings.Networks.shared.IPAddress}}", "ovfirst"))
	if out, err := w1.TryDocker("exec", "ovfirst", "ip", "-o", "addr", "show", "eth0"); err != nil || !strings.Contains(out, "inet "+ovAddr+"/") {
		t.Errorf("ovfirst's eth0: %v %q, want the overlay's %s", err, out, ovAddr)
	}
	if got := defaultRoute(w1, "ovfirst"); !strings.HasSuffix(got, " dev eth1") {
		t.Errorf("ovfirst's default route %q, want its way out eth1", got)
	}
	w1.Docker("network", "connect", "lnet", "ovfirst")
	w1.Docker("run", "-d", "--name", "localfirst", "--network", "lnet", "busybox", "sleep", "3600")
	w1.Docker("network", "connect", "shared", "localfirst")
	for _, ctr := range []string{"ovfirst", "localfirst"} {
		if got := w1.Docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", ctr); strings.TrimSpace(got) != "lnet shared" {
			t.Errorf("%s's inspect shows networks %q, want lnet and shared", ctr, got)
		}
		get(w1, ctr, "http://l1/", "l1")
		get(w1, ctr, "http://c2/", "c2")
	}
	// The local network holds the default route while it is there, and
	// the container has no way out on the node bridge then (dockerd
	// drops its docker_gwbridge interface); once the local network is
	// gone it gets one again, under a name it never had, as dockerd
	// 20.10 does (checked side by side).
	route := func(ctr, want string) {
		t.Helper()
		if got := defaultRoute(w1, ctr); got != want {
			t.Errorf("%s's default route: %q, want %q", ctr, got, want)
		}
		if out, err := w1.TryDocker("exec", ctr, "nc", "-w", "2", gateway, fmt.Sprint(listenOutside(t, gateway))); err != nil {
			t.Errorf("%s does not reach %s outside through %q: %v %s", ctr, gateway, want, err, out)
		}
	}
	lnetGW := strings.TrimSpace(w1.Docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "lnet"))
	nodeGW := strings.TrimSpace(w1.Docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge"))
	route("ovfirst", "default via "+lnetGW+" dev eth2")
	if out, err := w1.TryDocker("exec", "ovfirst", "ip", "link", "show", "eth1"); err == nil {
		t.Errorf("ovfirst keeps its way out eth1 while on lnet: %s", out)
	}
	w1.Docker("network", "disconnect", "lnet", "ovfirst")
	route("ovfirst", "default via "+nodeGW+" dev eth3")
	get(w1, "ovfirst", "http://c2/", "c2")
	route("localfirst", "default via "+lnetGW+" dev eth0")
	w1.Docker("network", "disconnect", "lnet", "localfirst")
	route("localfirst", "default via "+nodeGW+" dev eth2")
	get(w1, "localfirst", "http://c2/", "c2")
	w1.Docker("rm", "-f", "ovfirst", "localfirst", "l1")
	w1.Docker("network", "rm", "lnet")

	// A SIGKILLed daemon comes back with c1 still plugged in and named.
	restartDaemon(t, &hosts[1], syscall.SIGKILL)
	get(w1, "c1", "http://peer/", peerHost)
	get(peer.host, peer.id, "http://c1/", "c1")

	if out, err := m1.TryDocker("network", "rm", "shared"); err == nil || !strings.Contains(out, "in use") {
		t.Errorf("network rm shared while containers are on it: %v %s", err, out)
	}
	w1.Docker("stop", "-t", "1", "c1")
	Eventually(t, 10*time.Second, func() string {
		if got := lookup(t, peer, "c1"); len(got) != 0 {
			return fmt.Sprintf("c1 still resolves to %v once stopped", got)
		}
		return ""
	})
	w1.Docker("rm", "-f", "c1")
	m1.Docker("rm", "-f", "c2")
	w2.Docker("rm", "-f", "c3")
	m1.Docker("service", "rm", "peer")
	Eventually(t, 30*time.Second, func() string {
		if out, err := m1.TryDocker("network", "rm", "shared"); err != nil {
			return "network rm shared once nothing is on it: " + out
		}
		return ""
	})
}

// listenOutside listens on a TCP port of addr, an address of the test's
// side of the cluster (outside every host), accepting and closing every
// connection until the test ends, and returns the port: whether a
// container reaches it tells whether it has a way out.
func listenOutside(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
