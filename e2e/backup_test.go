package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-project/shoal/internal/testutil/plaintext"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// TestBackupRestore is the disaster-recovery path: a swarm with a
// service, a secret and a config is backed up with `shoal swarm backup`
// while services are being created, the manager is lost, and `shoal swarm
// restore` on a fresh node brings the swarm back: the same services,
// secrets and configs (IDs and versions), the service's task running on
// the new node and reading the secret's value, no secret in the clear in
// the backup.
func TestBackupRestore(t *testing.T) {
	registry := testimage.ServeRegistry(t)
	ref := testimage.Push(t, registry, "busybox:latest", testimage.Image(t))
	old := StartDaemon(t, "--insecure-registry", registry)
	initSwarm(t, old)

	dir := t.TempDir()
	const secretValue = `backup-s3cret <&> "quoted"`
	for name, content := range map[string]string{"pass": secretValue, "conf": "listen 8080\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old.Docker("secret", "create", "db_pass", filepath.Join(dir, "pass"))
	old.Docker("config", "create", "app.conf", filepath.Join(dir, "conf"))
	old.Docker("service", "create", "-d", "--no-resolve-image", "--name", "sec",
		"--secret", "db_pass", "--config", "source=app.conf,target=/etc/app.conf", ref, "sleep", "3600")
	waitContainers(t, old, "sec", 1)

	// Services are being created while the backup is taken.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				old.TryDocker("service", "create", "-d", "-q", "--no-resolve-image", "--replicas", "0", "--name", "busy"+strconv.Itoa(i), ref)
			}
		}
	})
	file := filepath.Join(dir, "swarm.backup")
	out, err := old.TryShoal("swarm", "backup", file)
	close(stop)
	wg.Wait()
	if err != nil || !strings.Contains(out, "Backup of swarm") {
		t.Fatalf("shoal swarm backup: %v\n%s", err, out)
	}
	hits, err := plaintext.Find(dir, []byte(secretValue))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.Path != filepath.Join(dir, "pass") {
			t.Errorf("%s holds the secret's value in the clear", h)
		}
	}

	ls := func(d *Daemon, kind string) []string {
		out := d.Docker(kind, "ls", "--format", "{{.ID}} {{.Name}}")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		slices.Sort(lines)
		return lines
	}
	version := func(d *Daemon, kind, name string) string {
		return strings.TrimSpace(d.Docker(kind, "inspect", "--format", "{{.Version.Index}}", name))
	}
	secrets, configs, services := ls(old, "secret"), ls(old, "config"), ls(old, "service")
	versions := fmt.Sprint(version(old, "service", "sec"), version(old, "secret", "db_pass"), version(old, "config", "app.conf"))

	// The manager is lost.
	old.Docker("swarm", "leave", "--force")
	old.Stop()

	fresh := StartDaemon(t, "--insecure-registry", registry, "--bridge-cidr", "172.28.0.0/16")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	out = fresh.Shoal("swarm", "restore", "--advertise-addr", addr, "--listen-addr", addr, file)
	if !strings.Contains(out, "this node (") {
		t.Fatalf("shoal swarm restore printed %q", out)
	}

	if got := ls(fresh, "secret"); !slices.Equal(got, secrets) {
		t.Errorf("secret ls after restore = %q, want %q", got, secrets)
	}
	if got := ls(fresh, "config"); !slices.Equal(got, configs) {
		t.Errorf("config ls after restore = %q, want %q", got, configs)
	}
	// Every restored service was there before the backup ended, and the
	// services of before it began are all there.
	restored := ls(fresh, "service")
	for _, s := range restored {
		if !slices.Contains(services, s) {
			t.Errorf("restored service %q was not in the swarm", s)
		}
	}
	if !slices.ContainsFunc(restored, func(s string) bool { return strings.HasSuffix(s, " sec") }) {
		t.Errorf("service sec not restored: %q", restored)
	}
	if got := fmt.Sprint(version(fresh, "service", "sec"), version(fresh, "secret", "db_pass"), version(fresh, "config", "app.conf")); got != versions {
		t.Errorf("versions of sec, db_pass and app.conf after restore: %s, want %s", got, versions)
	}
	nodes := fresh.Docker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}} {{.Self}}")
	if !strings.Contains(nodes, "Ready Leader true") || !strings.Contains(nodes, "Down  false") {
		t.Errorf("node ls after restore:\n%s\nwant this node the leader and the lost one down", nodes)
	}

	// The service's task runs here and reads the secret.
	id := waitContainers(t, fresh, "sec", 1)[0]
	if got := strings.TrimSpace(fresh.Docker("exec", id, "cat", "/run/secrets/db_pass")); got != secretValue {
		t.Errorf("the restored service's task reads its secret as %q, want %q", got, secretValue)
	}
	if got := strings.TrimSpace(fresh.Docker("exec", id, "cat", "/etc/app.conf")); got != "listen 8080" {
		t.Errorf("the restored service's task reads its config as %q", got)
	}
	if hits, err := plaintext.Find(fresh.DataRoot, []byte(secretValue)); err != nil || len(hits) > 0 {
		t.Errorf("the restored manager's data root holds the secret in the clear: %+v, %v", hits, err)
	}
	// Writes work and come after the restored versions.
	fresh.Docker("service", "scale", "-d", "sec=2")
	waitContainers(t, fresh, "sec", 2)

	if out, err := fresh.TryShoal("swarm", "restore", "--advertise-addr", addr, file); err == nil || !strings.Contains(out, "already part of a swarm") {
		t.Errorf("restore on a node in a swarm: %v, %q; want it refused", err, out)
	}
}
