package e2e

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// containerFilesAndStreams are TestContainers' subtests of docker export,
// docker diff, attach over a websocket and log rotation, on its daemon.
func containerFilesAndStreams(t *testing.T, d *Daemon) {
	apiGet := func(t *testing.T, path string) (int, string) {
		t.Helper()
		resp, err := d.HTTPClient().Get("http://shoal/v1.50" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("export and diff", func(t *testing.T) {
		d.Docker("run", "-d", "--name", "fs", "-v", "/data", "busybox", "sh", "-c",
			"echo new > /new.txt; rm /etc/group; echo me >> /etc/passwd; mkdir /made; echo v > /data/in-volume; touch /ready; exec sleep 3600")
		Eventually(t, 10*time.Second, func() string {
			if _, err := d.TryDocker("exec", "fs", "test", "-e", "/ready"); err != nil {
				return "fs not ready"
			}
			return ""
		})
		diff := strings.Split(strings.TrimSpace(d.Docker("diff", "fs")), "\n")
		for _, want := range []string{"A /new.txt", "D /etc/group", "C /etc", "C /etc/passwd", "A /made", "A /ready"} {
			if !slices.Contains(diff, want) {
				t.Errorf("docker diff fs: %q lacks %q", diff, want)
			}
		}
		for _, line := range diff {
			// The runtime's mountpoints, and a volume's contents, are
			// not the container's changes.
			for _, not := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/data/in-volume", "/proc/"} {
				if strings.HasSuffix(line, " "+not) || strings.Contains(line, not+"/") {
					t.Errorf("docker diff fs lists %q", line)
				}
			}
		}

		out := filepath.Join(t.TempDir(), "fs.tar")
		d.Docker("export", "-o", out, "fs")
		files := tarEntries(t, out)
		for _, want := range []string{"bin/busybox", "new.txt", "etc/passwd", "made/"} {
			if _, ok := files[want]; !ok {
				t.Errorf("docker export: no %s among %d entries", want, len(files))
			}
		}
		for _, not := range []string{"etc/group", "data/in-volume", "proc/self/"} {
			if _, ok := files[not]; ok {
				t.Errorf("docker export has %s", not)
			}
		}
		if !strings.HasSuffix(files["etc/passwd"], "me\n") {
			t.Errorf("exported /etc/passwd %q lacks the container's change", files["etc/passwd"])
		}

		// docker stats, once and as a stream, of a plain container.
		if out := d.Docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "fs"); out != "fs 1\n" {
			t.Errorf("docker stats --no-stream fs: %q, want fs 1", out)
		}
		resp, err := d.HTTPClient().Get("http://shoal/v1.50/containers/fs/stats?stream=1")
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(resp.Body)
		for i := range 2 {
			var st struct {
				Name     string                `json:"name"`
				PidStats struct{ Current int } `json:"pids_stats"`
			}
			if err := dec.Decode(&st); err != nil || st.Name != "/fs" || st.PidStats.Current != 1 {
				t.Errorf("stats stream of fs, sample %d: %+v, %v", i, st, err)
			}
		}
		resp.Body.Close()

		d.Docker("rm", "-f", "fs")
		if code, body := apiGet(t, "/containers/fs/changes"); code != http.StatusNotFound || !strings.Contains(body, "No such container: fs") {
			t.Errorf("changes of a removed container: %d %s", code, body)
		}
		if code, body := apiGet(t, "/containers/nothing/export"); code != http.StatusNotFound || !strings.Contains(body, "No such container: nothing") {
			t.Errorf("export of an unknown container: %d %s", code, body)
		}
	})

	t.Run("attach over a websocket, with and without a TTY", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		dial := func(name string) *websocket.Conn {
			t.Helper()
			c, resp, err := websocket.Dial(ctx, "ws://shoal/v1.50/containers/"+name+"/attach/ws?stream=1&stdin=1&stdout=1&stderr=1",
				&websocket.DialOptions{HTTPClient: &http.Client{Transport: d.HTTPClient().Transport}})
			if err != nil {
				t.Fatalf("websocket attach to %s: %v (%v)", name, err, resp)
			}
			return c
		}
		// readUntil reads messages until what was read contains each of
		// want.
		readUntil := func(c *websocket.Conn, want ...string) string {
			t.Helper()
			var got strings.Builder
			for !containsAll(got.String(), want) {
				_, b, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("read %q so far, waiting for %q: %v", got.String(), want, err)
				}
				got.Write(b)
			}
			return got.String()
		}

		// Without a TTY: attached before the start, stdin carried, both
		// streams raw in the messages, the socket closed at the exit.
		d.Docker("create", "-i", "--name", "wsplain", "busybox", "sh", "-c", "read line; echo got $line; echo oops >&2")
		c := dial("wsplain")
		d.Docker("start", "wsplain")
		if err := c.Write(ctx, websocket.MessageBinary, []byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		// Two pipes: stdout's and stderr's lines in either order.
		if got := readUntil(c, "got hello\n", "oops\n"); len(got) != len("got hello\noops\n") {
			t.Errorf("websocket attach without a TTY read %q", got)
		}
		if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure && !errors.Is(err, io.EOF) {
			t.Errorf("after the exit: %v, want the websocket closed", err)
		}
		if got := inspect(d, "wsplain", "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 0" {
			t.Errorf("wsplain: %s", got)
		}

		// With a TTY: a shell answering through the terminal.
		d.Docker("run", "-d", "-i", "-t", "--name", "wstty", "busybox", "sh")
		c = dial("wstty")
		c.Write(ctx, websocket.MessageBinary, []byte("echo $((40+2))\n"))
		readUntil(c, "42")
		c.Write(ctx, websocket.MessageBinary, []byte("exit\n"))
		Eventually(t, 10*time.Second, func() string {
			if got := inspect(d, "wstty", "{{.State.Status}}"); got != "exited" {
				return "wstty " + got
			}
			return ""
		})
		c.CloseNow()
		d.Docker("rm", "wsplain", "wstty")

		if code, body := apiGet(t, "/containers/nothing/attach/ws?stream=1&stdout=1"); code != http.StatusNotFound || !strings.Contains(body, "No such container: nothing") {
			t.Errorf("websocket attach to an unknown container: %d %s", code, body)
		}
	})

	t.Run("json-file logs rotate, and docker logs reads across the files", func(t *testing.T) {
		d.Docker("run", "--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
			"i=1; while [ $i -le 300 ]; do echo line $i; i=$((i+1)); done")
		logPath := inspect(d, "rot", "{{.LogPath}}")
		files, _ := filepath.Glob(logPath + "*")
		if len(files) != 3 {
			t.Errorf("log files %q, want 3 (the log and two rotated)", files)
		}
		for _, f := range files {
			if st, err := os.Stat(f); err != nil || st.Size() > 1000+200 {
				t.Errorf("log file %s: %v, %d bytes, want about 1k at most", f, err, st.Size())
			}
		}
		lines := strings.Split(strings.TrimSpace(d.Docker("logs", "rot")), "\n")
		if lines[len(lines)-1] != "line 300" || len(lines) < 20 || len(lines) >= 300 {
			t.Fatalf("docker logs rot: %d lines ending %q, want the last ones to line 300", len(lines), lines[len(lines)-1])
		}
		first, _ := strconv.Atoi(strings.TrimPrefix(lines[0], "line "))
		for i, l := range lines {
			if l != "line "+strconv.Itoa(first+i) {
				t.Fatalf("docker logs rot: line %d is %q, want line %d: out of order across the files", i, l, first+i)
			}
		}
		if tail := d.Docker("logs", "--tail", "2", "rot"); tail != "line 299\nline 300\n" {
			t.Errorf("docker logs --tail 2: %q", tail)
		}
		d.Docker("rm", "rot")

		resp, err := d.HTTPClient().Post("http://shoal/v1.50/containers/create", "application/json",
			strings.NewReader(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"1k","max-file":"0"}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		var msg struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&msg)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || msg.Message != "HostConfig.LogConfig.Config: max-file cannot be less than 1" {
			t.Errorf("create with max-file=0: %d %q", resp.StatusCode, msg.Message)
		}
		if out, err := d.TryDocker("run", "--log-opt", "max-size=lots", "busybox", "true"); err == nil || !strings.Contains(out, "max-size: invalid size: 'lots'") {
			t.Errorf("docker run --log-opt max-size=lots: %v %q", err, out)
		}
	})
}

// tarEntries reads a tar file: each entry's name, with a regular file's
// contents.
func tarEntries(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if hdr.Typeflag == tar.TypeReg && hdr.Size < 1<<16 {
			body, _ = io.ReadAll(tr)
		}
		out[hdr.Name] = string(body)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
