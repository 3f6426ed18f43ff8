package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// testUsernsRemap starts a daemon with --userns-remap=default and checks
// what dockerd does with it: containers (plain and tasks) run in a user
// namespace whose root is the first subordinate ID of dockremap, what
// that root writes in a bind mount is owned by that ID on the host, its
// processes run as that ID on the host, a named volume is made for it,
// --userns=host opts out, --privileged is refused without --userns=host,
// and docker info says name=userns. docker commit and docker build
// record owners as the container sees them (checkRemappedImages). docker
// exec enters remapped
// containers (plain, on another's network, on none, tasks), also after a
// daemon restart, and exec health checks run in them. A daemon given a
// user it cannot remap to refuses to start.
func testUsernsRemap(t *testing.T) {
	d := StartDaemon(t, "--userns-remap=default", "--bridge-cidr", "172.28.0.0/16")
	uid, gid := remappedRoot(t)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	t.Cleanup(func() {
		if ids, _ := d.TryDocker("ps", "-aq", "--filter", "is-task=false"); strings.TrimSpace(ids) != "" {
			d.TryDocker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		d.TryDocker("volume", "rm", "-f", "remapped")
		d.TryDocker("network", "rm", "remapnet")
	})
	wantMap := fmt.Sprintf("0 %d 65536", uid)

	if out := d.Docker("info", "--format", "{{json .SecurityOptions}}"); !strings.Contains(out, `"name=userns"`) {
		t.Errorf("docker info SecurityOptions: %s; want name=userns in them", out)
	}

	bind := t.TempDir()
	// As with dockerd, the container's root may write only where the
	// host lets its remapped ID write.
	if err := os.Chown(bind, uid, gid); err != nil {
		t.Fatal(err)
	}
	out := d.Docker("run", "--rm", "-v", bind+":/bind", "-v", "remapped:/vol", "busybox", "sh", "-c",
		"cat /proc/self/uid_map; touch /bind/made /vol/made && echo 10.0.0.1 extra >> /etc/hosts && echo wrote; stat -c 'vol=%u:%g' /vol")
	if got := strings.Join(strings.Fields(firstLine(out)), " "); got != wantMap {
		t.Errorf("uid_map in a container: %q; want %q", got, wantMap)
	}
	if !strings.Contains(out, "wrote") || !strings.Contains(out, "vol=0:0") {
		t.Errorf("container root writing its bind mount, volume and /etc/hosts:\n%s\nwant it to write all three, the volume owned by its root", out)
	}
	if owner := fileOwner(t, filepath.Join(bind, "made")); owner != [2]int{uid, gid} {
		t.Errorf("a file the container's root made in a bind mount is owned by %d:%d on the host; want %d:%d", owner[0], owner[1], uid, gid)
	}

	id := strings.TrimSpace(d.Docker("run", "-d", "busybox", "sleep", "300"))
	pid, err := strconv.Atoi(strings.TrimSpace(d.Docker("inspect", "--format", "{{.State.Pid}}", id)))
	if err != nil {
		t.Fatal(err)
	}
	if got := hostUID(t, pid); got != uid {
		t.Errorf("the container's root process runs as uid %d on the host (ps -o uid); want %d", got, uid)
	}
	// docker exec enters the container's user namespace first, then its
	// network namespace: the node makes the latter owned by the former.
	checkExec(t, d, id, wantMap)
	// Its /sys is its own: the user namespace owns the network namespace.
	if out := d.Docker("exec", id, "ls", "/sys/class/net"); !strings.Contains(out, "eth0") {
		t.Errorf("/sys/class/net in a remapped container: %q; want its own eth0", out)
	}
	joined := strings.TrimSpace(d.Docker("run", "-d", "--network", "container:"+id, "busybox", "sleep", "300"))
	checkExec(t, d, joined, wantMap)
	none := strings.TrimSpace(d.Docker("run", "-d", "--network", "none", "busybox", "sleep", "300"))
	checkExec(t, d, none, wantMap)
	// The user namespace holding the network namespace goes with the container.
	held := filepath.Join(d.ExecRoot, "executor", "userns", none)
	if _, err := os.Stat(held); err != nil {
		t.Errorf("user namespace of a remapped container: %v; want it mounted at %s", err, held)
	}
	d.Docker("rm", "-f", none)
	if _, err := os.Stat(held); !os.IsNotExist(err) {
		t.Errorf("%s after docker rm: %v; want it gone", held, err)
	}
	// A restart runs a new task in the same namespaces.
	d.Docker("restart", "-t", "0", joined)
	checkExec(t, d, joined, wantMap)
	// On a local network: plugged from the host, names answered by the
	// embedded DNS server listening inside the namespace.
	d.Docker("network", "create", "remapnet")
	d.Docker("run", "-d", "--network", "remapnet", "--name", "remapped1", "busybox", "sleep", "300")
	checkExec(t, d, "remapped1", wantMap)
	if out, err := d.TryDocker("run", "--rm", "--network", "remapnet", "busybox", "ping", "-c1", "-W2", "remapped1"); err != nil {
		t.Errorf("ping remapped1 by name from a remapped container on remapnet: %v\n%s", err, out)
	}
	healthy := strings.TrimSpace(d.Docker("run", "-d", "--health-cmd", "grep -q 65536 /proc/self/uid_map", "--health-interval", "1s", "busybox", "sleep", "300"))
	Eventually(t, 20*time.Second, func() string {
		if got := strings.TrimSpace(d.Docker("inspect", "--format", "{{.State.Health.Status}}", healthy)); got != "healthy" {
			return fmt.Sprintf("exec health check of a remapped container: %s; want healthy", got)
		}
		return ""
	})

	// docker cp shows owners as the container sees them, both ways.
	src := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(src, []byte("in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Docker("cp", src, id+":/tmp/in.txt")
	if owner := fileOwner(t, fmt.Sprintf("/proc/%d/root/tmp/in.txt", pid)); owner != [2]int{uid, gid} {
		t.Errorf("docker cp of a root-owned file into the container: owned by %d:%d on the host; want %d:%d, the container's root", owner[0], owner[1], uid, gid)
	}
	hdr, err := tar.NewReader(strings.NewReader(d.Docker("cp", id+":/etc/passwd", "-"))).Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Uid != 0 || hdr.Gid != 0 {
		t.Errorf("docker cp of /etc/passwd out of the container: owner %d:%d in the tar; want 0:0, as the container sees it", hdr.Uid, hdr.Gid)
	}
	if hdr, err = tar.NewReader(strings.NewReader(d.Docker("export", id))).Next(); err != nil {
		t.Fatal(err)
	}
	if hdr.Uid != 0 || hdr.Gid != 0 {
		t.Errorf("docker export: %s owned by %d:%d in the tar; want 0:0, as the container sees it", hdr.Name, hdr.Uid, hdr.Gid)
	}

	if got := strings.Join(strings.Fields(d.Docker("run", "--rm", "--userns=host", "busybox", "head", "-1", "/proc/self/uid_map")), " "); got != "0 0 4294967295" {
		t.Errorf("--userns=host: uid_map %q; want the host's, 0 0 4294967295", got)
	}
	if out, err := d.TryDocker("create", "--privileged", "busybox", "true"); err == nil || !strings.Contains(out, "privileged mode is incompatible with user namespaces") {
		t.Errorf("create --privileged under remapping: err %v, %q; want it refused as dockerd refuses it", err, out)
	}
	d.Docker("rm", "-f", strings.TrimSpace(d.Docker("create", "--privileged", "--userns=host", "busybox", "true")))

	checkRemappedImages(t, d, wantMap)

	initSwarm(t, d)
	secret := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(secret, []byte("remapped secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Docker("secret", "create", "remap-s", secret)
	// On an overlay too: the dataplane plugs it, and the node's DNS
	// server answers inside it, from the host's side.
	d.Docker("network", "create", "-d", "overlay", "remapov")
	d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "remap", "--secret", "remap-s", "--network", "remapov", "busybox",
		"sh", "-c", "head -1 /proc/self/uid_map; cat /run/secrets/remap-s; sleep 3600")
	task := waitContainers(t, d, "remap", 1)[0]
	Eventually(t, 10*time.Second, func() string {
		out := d.Docker("logs", task)
		if got := strings.Join(strings.Fields(firstLine(out)), " "); got != wantMap || !strings.Contains(out, "remapped secret") {
			return fmt.Sprintf("task printed %q; want uid_map %q and its secret", out, wantMap)
		}
		return ""
	})
	checkExec(t, d, task, wantMap)
	if out, err := d.TryDocker("exec", task, "nslookup", "remap"); err != nil || !strings.Contains(out, "Name:") {
		t.Errorf("nslookup remap in a remapped task on an overlay: %v\n%s", err, out)
	}

	// A restarted daemon adopts the running containers, and exec still
	// enters them.
	d.Stop()
	d.Start()
	checkExec(t, d, id, wantMap)
	checkExec(t, d, task, wantMap)

	t.Run("bad values stop the daemon", func(t *testing.T) {
		for value, want := range map[string]string{
			"no-such-user-xyz": "no-such-user-xyz",
			"nobody:nogroup":   "no subordinate uid range for user nobody",
			"root:no-such-grp": "no-such-grp",
		} {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			execRoot, err := os.MkdirTemp("/run", "se-")
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(ctx, shoalBin, "daemon", "--data-root", t.TempDir(), "--exec-root", execRoot, "--userns-remap", value).CombinedOutput()
			timedOut := ctx.Err() != nil
			cancel()
			os.RemoveAll(execRoot)
			if err == nil || !strings.Contains(string(out), want) || timedOut {
				t.Errorf("daemon --userns-remap %s: err %v, output:\n%s\nwant it to stop at once saying %q", value, err, out, want)
			}
		}
	})
}

// checkExec checks that docker exec enters container id and sees the
// user namespace's uid_map wantMap.
func checkExec(t *testing.T, d *Daemon, id, wantMap string) {
	t.Helper()
	out, err := d.TryDocker("exec", id, "head", "-1", "/proc/self/uid_map")
	if got := strings.Join(strings.Fields(out), " "); err != nil || got != wantMap {
		t.Errorf("docker exec %.12s head -1 /proc/self/uid_map: %q, %v; want %q", id, out, err, wantMap)
	}
}

// remappedRoot is the first subordinate uid and gid of dockremap, which
// container root is under --userns-remap=default.
func remappedRoot(t *testing.T) (uid, gid int) {
	t.Helper()
	r, err := confine.LoadRemap(t.Context(), "default")
	if err != nil {
		t.Fatal(err)
	}
	return r.Root()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func fileOwner(t *testing.T, path string) [2]int {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return [2]int{int(st.Uid), int(st.Gid)}
}

// hostUID is the uid process pid runs as on the host, as ps -o uid shows it.
func hostUID(t *testing.T, pid int) int {
	t.Helper()
	out, err := exec.Command("ps", "-o", "uid=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		t.Fatalf("ps -o uid -p %d: %v", pid, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ps -o uid -p %d: %q", pid, out)
	}
	return n
}

// checkRemappedImages checks that docker commit and docker build under
// remapping record in an image's layer the owners the container sees, as
// dockerd does: a file the container's root made is owned by 0 in the
// image, whether it is then run remapped or with --userns=host.
func checkRemappedImages(t *testing.T, d *Daemon, wantMap string) {
	t.Helper()
	t.Cleanup(func() { d.TryDocker("rmi", "-f", "remapcommit", "remapbuilt") })
	d.Docker("run", "--name", "tocommit", "busybox", "sh", "-c", "touch /f /g && chown 1000:1000 /g")
	d.Docker("commit", "tocommit", "remapcommit")
	if got := layerOwners(t, d, "remapcommit"); got["f"] != [2]int{0, 0} || got["g"] != [2]int{1000, 1000} {
		t.Errorf("owners in the layers of the image docker commit made: f %v, g %v; want f 0:0 and g 1000:1000, as the container saw them", got["f"], got["g"])
	}
	for _, userns := range []string{"host", ""} {
		if got := lsOwners(t, d, userns, "remapcommit", "/f", "/g"); got != "0:0 1000:1000" {
			t.Errorf("docker run --userns=%s remapcommit ls -n /f /g: owners %s; want 0:0 1000:1000", userns, got)
		}
	}

	dir := t.TempDir()
	df := "FROM busybox\nRUN head -1 /proc/self/uid_map && touch /x /y && chown 5:5 /y\nRUN stat -c 'next step sees %u:%g' /y\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	out := d.Docker("build", "-t", "remapbuilt", dir)
	if !strings.Contains(strings.Join(strings.Fields(out), " "), wantMap) || !strings.Contains(out, "next step sees 5:5") {
		t.Errorf("docker build under remapping:\n%s\nwant the RUN step in uid_map %q, and the next step to see /y owned by 5:5", out, wantMap)
	}
	if got := layerOwners(t, d, "remapbuilt"); got["x"] != [2]int{0, 0} || got["y"] != [2]int{5, 5} {
		t.Errorf("owners in the layers docker build made: x %v, y %v; want x 0:0 and y 5:5", got["x"], got["y"])
	}
	for _, userns := range []string{"host", ""} {
		if got := lsOwners(t, d, userns, "remapbuilt", "/x", "/y"); got != "0:0 5:5" {
			t.Errorf("docker run --userns=%s remapbuilt ls -n /x /y: owners %s; want 0:0 5:5", userns, got)
		}
	}
}

// lsOwners runs ls -n on paths in a container of image, in the user
// namespace userns names ("" for the daemon's remapped one), and returns
// their owners, "uid:gid" each.
func lsOwners(t *testing.T, d *Daemon, userns, image string, paths ...string) string {
	t.Helper()
	args := []string{"run", "--rm"}
	if userns != "" {
		args = append(args, "--userns="+userns)
	}
	var owners []string
	for _, line := range strings.Split(strings.TrimSpace(d.Docker(append(append(args, image, "ls", "-n"), paths...)...)), "\n") {
		if f := strings.Fields(line); len(f) > 3 {
			owners = append(owners, f[2]+":"+f[3])
		}
	}
	return strings.Join(owners, " ")
}

// layerOwners returns the owners of the entries of the layers of image,
// as docker save writes them; a later layer's entry replaces an earlier's.
func layerOwners(t *testing.T, d *Daemon, image string) map[string][2]int {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(strings.NewReader(d.Docker("save", image)))
	for hdr, err := tr.Next(); err == nil; hdr, err = tr.Next() {
		if files[hdr.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json of docker save %s: %v, %s", image, err, files["manifest.json"])
	}
	owners := map[string][2]int{}
	for _, name := range manifest[0].Layers {
		var layer io.Reader = bytes.NewReader(files[name])
		if zr, err := gzip.NewReader(bytes.NewReader(files[name])); err == nil {
			layer = zr
		}
		lr := tar.NewReader(layer)
		for hdr, err := lr.Next(); err == nil; hdr, err = lr.Next() {
			owners[hdr.Name] = [2]int{hdr.Uid, hdr.Gid}
		}
	}
	return owners
}
