package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var recordDockerd = flag.Bool("record-dockerd", false, "ask dockerd (Debian's docker.io, run in a network namespace of its own) the requests of "+compatErrorsFile+" and rewrite its dockerd lines")

// TestRecordDockerdErrors records dockerd's answers to the requests of
// errors.txt; it runs only with -record-dockerd, under the e2e lock.
// dockerd gets its own network namespace (nsenter, so that /sys and its
// cgroups stay as they are), data root, exec root, pid file, socket and
// containerd namespace, and is stopped at the end: it never meets the
// machine's networks or another daemon's state.
func TestRecordDockerdErrors(t *testing.T) {
	if !*recordDockerd {
		t.Skip("records dockerd's answers only with -record-dockerd")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatal("-record-dockerd needs dockerd (apt-get install docker.io)")
	}
	socket := startDockerd(t)
	c := newAPIClient(socket)
	var v struct{ Version string }
	c.must(t, "GET", "/version", "", &v)
	t.Logf("recording dockerd %s", v.Version)
	objs := compatSetup(t, c, "127.0.0.1:2377", true)
	header, cases := readCompatCases(t)
	for i := range cases {
		objs = compatRead(t, c, objs.ids)
		cases[i].dockerd = objs.ask(t, c, cases[i].request)
	}
	writeCompatCases(t, header, cases)
}

// startDockerd runs dockerd in a new network namespace with only
// loopback, and returns its socket.
func startDockerd(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("shoal-dockerd-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	exec.Command("ip", "-n", ns, "link", "set", "lo", "up").Run()
	root := t.TempDir()
	execRoot, err := os.MkdirTemp("/run", "sdk-")
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(execRoot, "docker.sock")
	logf, err := os.Create(filepath.Join(root, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+ns, "dockerd",
		"--data-root", filepath.Join(root, "data"), "--exec-root", execRoot,
		"--pidfile", filepath.Join(root, "dockerd.pid"), "-H", "unix://"+socket,
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		"--containerd-namespace", ns, "--containerd-plugins-namespace", ns+"-plugins")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		newAPIClient(socket).do("POST", "/swarm/leave?force=1", "")
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// dockerd's own containerd ends with it; anything left of its
		// process group goes.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("sh", "-c", "grep -o ' "+root+"[^ ]*\\| "+execRoot+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(execRoot)
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(root, "dockerd.log"))
			t.Logf("dockerd log:\n%s", log)
		}
	})
	c := newAPIClient(socket)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(root, "dockerd.log"))
			t.Fatalf("dockerd exited during start-up:\n%s", log)
		default:
		}
		if code, body, err := c.do("GET", "/_ping", ""); err == nil && code == 200 && strings.TrimSpace(string(body)) == "OK" {
			return socket
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("dockerd did not answer within 60s")
	return ""
}
