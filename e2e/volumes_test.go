package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/sys/mountinfo"

	"github.com/shoal-project/shoal/internal/testutil/plaintext"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// withContent returns img with one more layer: /srv/content/index.html.
func withContent(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "srv/content/", Typeflag: tar.TypeDir, Mode: 0o750},
		{Name: "srv/content/index.html", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len("from the image\n"))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Write([]byte("from the image\n"))
	tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	out, err := mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// execIn runs a shell command in container id and returns its trimmed
// output.
func execIn(t *testing.T, d *Daemon, id, cmd string) string {
	t.Helper()
	return strings.TrimSpace(d.Docker("exec", id, "sh", "-c", cmd))
}

// taskErrors is what `docker service ps --no-trunc` shows in ERROR for the
// service's tasks.
func taskErrors(d *Daemon, service string) string {
	out, _ := d.TryDocker("service", "ps", "--no-trunc", "--format", "{{.CurrentState}}: {{.Error}}", service)
	return out
}

// removeVolumes removes volumes once the containers that used them, of
// services just removed, are gone.
func removeVolumes(t *testing.T, d *Daemon, names ...string) {
	t.Helper()
	for _, name := range names {
		Eventually(t, 30*time.Second, func() string {
			if out, err := d.TryDocker("volume", "rm", name); err != nil {
				return "volume rm: " + out
			}
			return ""
		})
	}
}

// TestVolumesAndTemplates drives templates and volumes on one node with
// the docker CLI: templated hostnames, environments and configs (with a
// secret's value, which lands only in the task's tmpfs), named volumes
// that outlive their tasks, image content copied into a volume unless
// nocopy, volumes of the local driver's tmpfs and bind types mounted only
// while used, a mount that fails rejecting its task, and docker volume's
// create, ls, inspect, rm and prune as Docker prints them.
func TestVolumesAndTemplates(t *testing.T) {
	registry := testimage.ServeRegistry(t)
	ref := testimage.Push(t, registry, "busybox:latest", withContent(t, testimage.Image(t)))
	d := StartDaemon(t, "--insecure-registry", registry)
	initSwarm(t, d)
	volumes := filepath.Join(d.DataRoot, "volumes")
	// busybox's sleep, as PID 1, ignores SIGTERM: a short grace period
	// keeps restarts and removals quick.
	service := func(args ...string) {
		t.Helper()
		d.Docker(append([]string{"service", "create", "-d", "--no-resolve-image", "--stop-grace-period", "1s"}, args...)...)
	}

	t.Run("templated hostname and environment", func(t *testing.T) {
		service("--name", "tmpl", "--replicas", "2", "--hostname", "{{.Service.Name}}-{{.Task.Slot}}",
			"--env", "SLOT={{.Task.Slot}}", "--env", "WHERE={{.Node.Hostname}}/{{.Node.Platform.OS}}", ref, "sleep", "3600")
		host := strings.TrimSpace(d.Docker("node", "inspect", "self", "--format", "{{.Description.Hostname}}"))
		seen := map[string]bool{}
		for _, id := range waitContainers(t, d, "tmpl", 2) {
			out := execIn(t, d, id, `echo "$(hostname) $SLOT $WHERE"`)
			f := strings.Fields(out)
			if len(f) != 3 || f[0] != "tmpl-"+f[1] || f[2] != host+"/linux" {
				t.Errorf("in a task: %q, want tmpl-SLOT SLOT %s/linux", out, host)
			}
			seen[f[0]] = true
		}
		if !seen["tmpl-1"] || !seen["tmpl-2"] {
			t.Errorf("hostnames %v, want tmpl-1 and tmpl-2", seen)
		}
		d.Docker("service", "rm", "tmpl")
	})

	const secretValue = "pa55-Ü-<&>-" + "e2e-volumes"
	t.Run("templated config with a secret, in the task's tmpfs only", func(t *testing.T) {
		dir := t.TempDir()
		write := func(name, content string) string {
			p := filepath.Join(dir, name)
			os.WriteFile(p, []byte(content), 0o600)
			return p
		}
		d.Docker("secret", "create", "dbpass", write("pass", secretValue))
		d.Docker("config", "create", "--template-driver", "golang", "app.conf",
			write("conf", `service={{.Service.Name}} slot={{.Task.Slot}} password={{ secret "dbpass" }} mode={{ env "MODE" }}`))
		service("--name", "cfg", "--secret", "dbpass", "--config", "source=app.conf,target=/etc/app.conf",
			"--env", "MODE=prod", ref, "sleep", "3600")
		id := waitContainers(t, d, "cfg", 1)[0]
		want := "service=cfg slot=1 password=" + secretValue + " mode=prod"
		if got := execIn(t, d, id, "cat /etc/app.conf"); got != want {
			t.Errorf("rendered config: %q, want %q", got, want)
		}
		if got := execIn(t, d, id, "grep ' /etc/app.conf ' /proc/mounts | cut -d' ' -f3"); got != "tmpfs" {
			t.Errorf("the rendered config is on %q, want tmpfs", got)
		}
		hits, err := plaintext.Find(d.DataRoot, []byte(secretValue))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			t.Errorf("%s holds the secret's value (rendered into a config) in the clear", h)
		}
		hits, err = plaintext.Find(d.ExecRoot, []byte(secretValue))
		if err != nil {
			t.Fatal(err)
		}
		tmpfs := filepath.Join(d.ExecRoot, "executor", "secrets", id) + "/"
		if len(hits) == 0 {
			t.Errorf("the secret's value was not found in the task's tmpfs %s: is the search looking?", tmpfs)
		}
		for _, h := range hits {
			if !strings.HasPrefix(h.Path, tmpfs) {
				t.Errorf("%s holds the secret's value outside the task's tmpfs", h)
			}
		}

		// A template that does not parse is refused at create, naming it.
		out, err := d.TryDocker("config", "create", "--template-driver", "golang", "broken", write("broken", "{{ .Service.Name "))
		if err == nil || !strings.Contains(out, "template: config broken:1: unclosed action") {
			t.Errorf("config create of a broken template: %v, %q", err, out)
		}
		out, err = d.TryDocker("service", "create", "--no-resolve-image", "--name", "badhost", "--hostname", "{{.Task.Nope}}", ref)
		if err == nil || !strings.Contains(out, "ContainerSpec.Hostname") || !strings.Contains(out, "can't evaluate field Nope") {
			t.Errorf("service create with a broken hostname template: %v, %q", err, out)
		}
		// One that fails for a task rejects it with the error.
		d.Docker("config", "create", "--template-driver", "golang", "other.conf", write("other", `{{ secret "notmine" }}`))
		service("--name", "badcfg", "--config", "other.conf", ref, "sleep", "3600")
		Eventually(t, 30*time.Second, func() string {
			if out := taskErrors(d, "badcfg"); !strings.Contains(out, "Rejected") || !strings.Contains(out, "secret target notmine not found") {
				return "service ps shows " + out
			}
			return ""
		})
		d.Docker("service", "rm", "cfg", "badcfg")
	})

	t.Run("a named volume outlives its task", func(t *testing.T) {
		service("--name", "keeper", "--mount", "source=appdata,target=/data", ref, "sh", "-c", "hostname >> /data/runs; sleep 3600")
		first := waitContainers(t, d, "keeper", 1)[0]
		d.Docker("service", "update", "-d", "--force", "keeper")
		Eventually(t, 60*time.Second, func() string {
			ids := containers(d, "keeper")
			if len(ids) != 1 || ids[0] == first {
				return fmt.Sprintf("containers %v, want one new one", ids)
			}
			return ""
		})
		Eventually(t, 10*time.Second, func() string {
			data, err := os.ReadFile(filepath.Join(volumes, "appdata", "_data", "runs"))
			if err != nil || strings.Count(string(data), "\n") != 2 {
				return fmt.Sprintf("the volume after a restart of its task holds %q, %v; want a line from each task", data, err)
			}
			return ""
		})
		out, err := d.TryDocker("volume", "rm", "appdata")
		if err == nil || !strings.Contains(out, "Error response from daemon: remove appdata: volume is in use - [") {
			t.Errorf("volume rm of a volume in use: %v, %q", err, out)
		}
		if out, err := d.TryDocker("volume", "rm", "-f", "appdata"); err == nil || !strings.Contains(out, "volume is in use") {
			t.Errorf("volume rm -f of a volume in use: %v, %q", err, out)
		}
		// A restarted daemon learns again from its containers which
		// volumes they use.
		d.Stop()
		d.Start()
		if out, err := d.TryDocker("volume", "rm", "appdata"); err == nil || !strings.Contains(out, "volume is in use") {
			t.Errorf("volume rm of a volume in use, after a restart of the daemon: %v, %q", err, out)
		}
		Eventually(t, 30*time.Second, func() string {
			if out, _ := d.TryDocker("node", "ls", "--format", "{{.ManagerStatus}}"); strings.TrimSpace(out) != "Leader" {
				return "the swarm after the restart has no leader: " + out
			}
			return ""
		})
	})

	t.Run("image content copied unless nocopy", func(t *testing.T) {
		service("--name", "copy", "--mount", "source=copied,target=/srv/content", ref, "sleep", "3600")
		service("--name", "nocopy", "--mount", "source=nocopied,target=/srv/content,volume-nocopy", ref, "sleep", "3600")
		if got := execIn(t, d, waitContainers(t, d, "copy", 1)[0], "cat /srv/content/index.html"); got != "from the image" {
			t.Errorf("copied volume shows %q", got)
		}
		if got := execIn(t, d, waitContainers(t, d, "nocopy", 1)[0], "ls -A /srv/content | wc -l"); got != "0" {
			t.Errorf("nocopy volume holds %s entries, want 0", got)
		}
		if st, err := os.Stat(filepath.Join(volumes, "copied", "_data")); err != nil || st.Mode().Perm() != 0o750 {
			t.Errorf("copied volume's root: %v, %v; want the image directory's mode 0750", st, err)
		}
		d.Docker("service", "rm", "copy", "nocopy")
	})

	t.Run("tmpfs and bind volumes of the local driver, mounted while used", func(t *testing.T) {
		host := t.TempDir()
		os.WriteFile(filepath.Join(host, "from-host"), []byte("host file\n"), 0o644)
		if out := d.Docker("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=2m", "scratch"); strings.TrimSpace(out) != "scratch" {
			t.Errorf("volume create printed %q", out)
		}
		d.Docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device="+host, "hostdir")
		scratch := filepath.Join(volumes, "scratch", "_data")
		service("--name", "mnt", "--mount", "source=scratch,target=/scratch", "--mount", "source=hostdir,target=/host", ref, "sleep", "3600")
		id := waitContainers(t, d, "mnt", 1)[0]
		if got := execIn(t, d, id, "grep ' /scratch tmpfs ' /proc/mounts | grep -o 'size=[0-9a-z]*'"); got != "size=2048k" {
			t.Errorf("/scratch in the task: %q, want a 2m tmpfs", got)
		}
		if got := execIn(t, d, id, "cat /host/from-host; echo from-task > /host/back"); got != "host file" {
			t.Errorf("/host in the task shows %q", got)
		}
		if b, _ := os.ReadFile(filepath.Join(host, "back")); string(b) != "from-task\n" {
			t.Errorf("the host directory got %q from the task", b)
		}
		if on, err := mountinfo.Mounted(scratch); !on || err != nil {
			t.Errorf("the tmpfs volume is not mounted while its task runs: %v", err)
		}
		d.Docker("service", "rm", "mnt")
		Eventually(t, 30*time.Second, func() string {
			if on, _ := mountinfo.Mounted(scratch); on {
				return "the tmpfs volume is still mounted after its task was removed"
			}
			return ""
		})
		removeVolumes(t, d, "scratch", "hostdir")
		if _, err := os.Stat(filepath.Join(host, "from-host")); err != nil {
			t.Errorf("removing the bind volume touched the host directory: %v", err)
		}
	})

	t.Run("the other --mount options", func(t *testing.T) {
		host := t.TempDir()
		service("--name", "opts",
			"--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
			"--mount", "type=bind,source="+host+",target=/b,readonly,bind-propagation=rslave",
			"--mount", "type=volume,source=labelled-vol,target=/v,volume-driver=local,volume-label=team=db,volume-opt=type=tmpfs,volume-opt=device=tmpfs,readonly",
			ref, "sleep", "3600")
		id := waitContainers(t, d, "opts", 1)[0]
		for cmd, want := range map[string]string{
			"grep ' /t tmpfs ' /proc/mounts | grep -o 'size=[^,]*,mode=[0-7]*'": "size=1024k,mode=1770",
			"touch /b/x 2>&1 | grep -c 'Read-only'":                             "1",
			"touch /v/x 2>&1 | grep -c 'Read-only'":                             "1",
			"grep -c ' /v tmpfs ro' /proc/mounts":                               "1",
		} {
			if got := execIn(t, d, id, cmd); got != want {
				t.Errorf("in the task, %s: %q, want %q", cmd, got, want)
			}
		}
		if got := strings.TrimSpace(d.Docker("inspect", id, "--format", `{{range .Mounts}}{{if eq .Destination "/b"}}{{.Propagation}} {{.RW}}{{end}}{{end}}`)); got != "rslave false" {
			t.Errorf("docker inspect shows the bind as %q, want rslave false", got)
		}
		if got := strings.TrimSpace(d.Docker("volume", "inspect", "--format", "{{.Labels.team}} {{.Options.type}}", "labelled-vol")); got != "db tmpfs" {
			t.Errorf("the volume the task made: %q, want its label and options from the mount", got)
		}
		d.Docker("service", "rm", "opts")
		removeVolumes(t, d, "labelled-vol")
	})

	t.Run("a mount that fails rejects the task with its error", func(t *testing.T) {
		service("--name", "badmount", "--mount", "source=broken,target=/b,volume-opt=type=ext4,volume-opt=device=/dev/shoal-no-such-disk", ref, "sleep", "3600")
		Eventually(t, 30*time.Second, func() string {
			out := taskErrors(d, "badmount")
			if !strings.Contains(out, "Rejected") || !strings.Contains(out, "failed to mount local volume") {
				return "service ps shows " + out
			}
			return ""
		})
		d.Docker("service", "rm", "badmount")
		// Made for the task before its mount failed; prune leaves volumes
		// with options of their own.
		removeVolumes(t, d, "broken")
		out, err := d.TryDocker("service", "create", "--no-resolve-image", "--name", "badopt", "--mount", "source=x1,target=/b,volume-opt=tyep=tmpfs", ref)
		if err == nil || !strings.Contains(out, `VolumeOptions.DriverConfig.Options: invalid option: "tyep"`) {
			t.Errorf("service create with a bad volume option: %v, %q", err, out)
		}
	})

	t.Run("docker volume create, ls, inspect, rm, prune", func(t *testing.T) {
		d.Docker("volume", "create", "--label", "tier=db", "labelled")
		anon := strings.TrimSpace(d.Docker("volume", "create"))
		if len(anon) != 64 {
			t.Errorf("anonymous volume create printed %q", anon)
		}
		if out := d.Docker("volume", "ls", "--filter", "label=tier=db"); out != "DRIVER    VOLUME NAME\nlocal     labelled\n" {
			t.Errorf("volume ls --filter label printed\n%s", out)
		}
		// The containers of services removed before go in the background.
		Eventually(t, 30*time.Second, func() string {
			if out := d.Docker("volume", "ls", "-q", "--filter", "dangling=false"); strings.TrimSpace(out) != "appdata" {
				return fmt.Sprintf("volume ls dangling=false: %q, want appdata (in use)", out)
			}
			return ""
		})
		var ins []map[string]any
		if err := json.Unmarshal([]byte(d.Docker("volume", "inspect", "labelled")), &ins); err != nil || len(ins) != 1 {
			t.Fatalf("volume inspect: %v", err)
		}
		if ins[0]["Mountpoint"] != filepath.Join(volumes, "labelled", "_data") || ins[0]["Scope"] != "local" || ins[0]["Driver"] != "local" {
			t.Errorf("volume inspect shows %v", ins[0])
		}
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"volume", "create", "--driver", "nope", "v1"}, `Error response from daemon: create v1: error looking up volume plugin nope: plugin "nope" not found`},
			{[]string{"volume", "create", "--opt", "colour=blue", "v1"}, `Error response from daemon: create v1: invalid option: "colour"`},
			{[]string{"volume", "create", "a/b"}, `create a/b: "a/b" includes invalid characters for a local volume name`},
			{[]string{"volume", "inspect", "nope"}, "no such volume"},
		} {
			if out, err := d.TryDocker(tt.args...); err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("docker %s: %v, %q; want %q", strings.Join(tt.args, " "), err, out, tt.want)
			}
		}
		if _, err := os.Stat(filepath.Join(volumes, "v1")); !os.IsNotExist(err) {
			t.Errorf("refused creates left %v", err)
		}

		// The shoal CLI prints what docker's does.
		if got := strings.TrimSpace(d.Shoal("volume", "create", "--label", "by=shoal", "-o", "type=tmpfs", "-o", "device=tmpfs", "fromshoal")); got != "fromshoal" {
			t.Errorf("shoal volume create printed %q", got)
		}
		for _, args := range [][]string{
			{"volume", "ls"},
			{"volume", "ls", "-q", "--filter", "dangling=true"},
			{"volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}", "--filter", "label=by"},
			{"volume", "inspect", "fromshoal", "labelled"},
			{"volume", "inspect", "--format", "{{.Mountpoint}} {{.Options}}", "fromshoal"},
		} {
			if docker, shoal := d.Docker(args...), d.Shoal(args...); docker != shoal {
				t.Errorf("%s: docker printed\n%s\nshoal printed\n%s", strings.Join(args, " "), docker, shoal)
			}
		}
		out, err := d.TryShoal("volume", "rm", "appdata")
		if err == nil || !strings.Contains(out, "remove appdata: volume is in use - [") {
			t.Errorf("shoal volume rm of a volume in use: %v, %q", err, out)
		}
		if out := d.Shoal("volume", "rm", "fromshoal"); out != "fromshoal\n" {
			t.Errorf("shoal volume rm printed %q", out)
		}

		out = d.Docker("volume", "prune", "-f")
		if !strings.Contains(out, "Deleted Volumes:\n"+anon+"\n") || strings.Contains(out, "labelled") {
			t.Errorf("volume prune printed\n%s\nwant only the anonymous volume", out)
		}
		d.Docker("service", "rm", "keeper")
		removeVolumes(t, d, "appdata")
		out = d.Docker("volume", "prune", "-a", "-f")
		for _, name := range []string{"labelled", "copied", "nocopied"} {
			if !strings.Contains(out, name+"\n") {
				t.Errorf("volume prune -a printed\n%s\nwant %s among the deleted", out, name)
			}
		}
		if out := d.Docker("volume", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("volumes left after prune -a: %q", out)
		}
	})
}
