package containerdexec

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/template"
)

// testDeps are the secrets and configs a node was sent, by ID.
type testDeps struct {
	secrets map[string]*swarm.Secret
	configs map[string]*swarm.Config
}

func (d testDeps) Secret(id string) (*swarm.Secret, bool) { s, ok := d.secrets[id]; return s, ok }
func (d testDeps) Config(id string) (*swarm.Config, bool) { c, ok := d.configs[id]; return c, ok }

func testSecret(id, data string) *swarm.Secret {
	return &swarm.Secret{ID: id, Spec: swarm.SecretSpec{Data: []byte(data)}}
}

func testConfig(id, data string) *swarm.Config {
	return &swarm.Config{ID: id, Spec: swarm.ConfigSpec{Data: []byte(data)}}
}

func templated(c *swarm.Config) *swarm.Config {
	c.Spec.Templating = &swarm.Driver{Name: "golang"}
	return c
}

func TestResolveFiles(t *testing.T) {
	deps := testDeps{
		secrets: map[string]*swarm.Secret{"s1": testSecret("s1", "pw")},
		configs: map[string]*swarm.Config{
			"c1":  testConfig("c1", "conf"),
			"tpl": templated(testConfig("tpl", `{{.Service.Name}}.{{.Task.Slot}} pass={{secret "db"}} mode={{env "MODE"}}`)),
			"bad": templated(testConfig("bad", `{{secret "nope"}}`)),
			"drv": {ID: "drv", Spec: swarm.ConfigSpec{Data: []byte("x"), Templating: &swarm.Driver{Name: "jinja"}}},
		},
	}
	tests := []struct {
		name    string
		spec    swarm.ContainerSpec
		deps    executor.Dependencies
		want    []containerFile
		wantErr errdefs.Kind
		errText string
	}{
		{
			name: "secret under /run/secrets with Docker's defaults",
			spec: swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db", File: &swarm.SecretReferenceFileTarget{Name: "db"}}}},
			deps: deps,
			want: []containerFile{{name: "secret-0", target: "/run/secrets/db", mode: 0o444, data: []byte("pw")}},
		},
		{
			name: "secret without a file target is named after the secret",
			spec: swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db"}}},
			deps: deps,
			want: []containerFile{{name: "secret-0", target: "/run/secrets/db", mode: 0o444, data: []byte("pw")}},
		},
		{
			name: "a nil secret reference is skipped, not the ones after it",
			spec: swarm.ContainerSpec{Secrets: []*swarm.SecretReference{nil, {SecretID: "s1", SecretName: "db"}}},
			deps: deps,
			want: []containerFile{{name: "secret-1", target: "/run/secrets/db", mode: 0o444, data: []byte("pw")}},
		},
		{
			name: "absolute secret target, owner and mode",
			spec: swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db", File: &swarm.SecretReferenceFileTarget{Name: "/etc/pw", UID: "1000", GID: "50", Mode: 0o400}}}},
			deps: deps,
			want: []containerFile{{name: "secret-0", target: "/etc/pw", uid: 1000, gid: 50, mode: 0o400, data: []byte("pw")}},
		},
		{
			name: "config at its name under / by default, at a relative target under /",
			spec: swarm.ContainerSpec{Configs: []*swarm.ConfigReference{
				{ConfigID: "c1", ConfigName: "app", File: &swarm.ConfigReferenceFileTarget{}},
				{ConfigID: "c1", ConfigName: "app", File: &swarm.ConfigReferenceFileTarget{Name: "etc/app.conf", Mode: 0o640}},
			}},
			deps: deps,
			want: []containerFile{
				{name: "config-0", target: "/app", mode: 0o444, data: []byte("conf")},
				{name: "config-1", target: "/etc/app.conf", mode: 0o640, data: []byte("conf")},
			},
		},
		{
			name: "config with a runtime target is no file and needs no data",
			spec: swarm.ContainerSpec{Configs: []*swarm.ConfigReference{{ConfigID: "cred", ConfigName: "cred", Runtime: &swarm.ConfigReferenceRuntimeTarget{}}}},
			deps: nil,
		},
		{
			name:    "secret the node lacks",
			spec:    swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "s2", SecretName: "other"}}},
			deps:    deps,
			wantErr: errdefs.KindNotFound,
			errText: "secret other not found on this node",
		},
		{
			name:    "no dependencies at all",
			spec:    swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db"}}},
			wantErr: errdefs.KindNotFound,
			errText: "secret db not found on this node",
		},
		{
			name:    "config the node lacks",
			spec:    swarm.ContainerSpec{Configs: []*swarm.ConfigReference{{ConfigID: "c2", ConfigName: "web", File: &swarm.ConfigReferenceFileTarget{Name: "/web"}}}},
			deps:    deps,
			wantErr: errdefs.KindNotFound,
			errText: "config web not found on this node",
		},
		{
			name: "templated config rendered for the task, with the task's secret",
			spec: swarm.ContainerSpec{
				Env:     []string{"MODE=fast"},
				Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db", File: &swarm.SecretReferenceFileTarget{Name: "db"}}},
				Configs: []*swarm.ConfigReference{{ConfigID: "tpl", ConfigName: "app", File: &swarm.ConfigReferenceFileTarget{Name: "/app.conf"}}},
			},
			deps: deps,
			want: []containerFile{
				{name: "secret-0", target: "/run/secrets/db", mode: 0o444, data: []byte("pw")},
				{name: "config-0", target: "/app.conf", mode: 0o444, data: []byte("web.2 pass=pw mode=fast")},
			},
		},
		{
			name:    "templated config reading a secret the task does not use",
			spec:    swarm.ContainerSpec{Configs: []*swarm.ConfigReference{{ConfigID: "bad", ConfigName: "bad", File: &swarm.ConfigReferenceFileTarget{Name: "/bad"}}}},
			deps:    deps,
			wantErr: errdefs.KindInvalid,
			errText: `expand templated config bad: template: config bad:1:2: executing "config bad" at <secret "nope">: error calling secret: secret target nope not found: the service must use the secret`,
		},
		{
			name:    "template driver the node does not know",
			spec:    swarm.ContainerSpec{Configs: []*swarm.ConfigReference{{ConfigID: "drv", ConfigName: "drv", File: &swarm.ConfigReferenceFileTarget{Name: "/drv"}}}},
			deps:    deps,
			wantErr: errdefs.KindInvalid,
			errText: `config drv: unknown template driver "jinja": only "golang" is supported`,
		},
		{
			name:    "uid that is no number",
			spec:    swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db", File: &swarm.SecretReferenceFileTarget{Name: "db", UID: "www-data"}}}},
			deps:    deps,
			wantErr: errdefs.KindInvalid,
			errText: `secret db: invalid uid "www-data": a number is needed`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := &swarm.Task{ID: "t1", Slot: 2, Annotations: swarm.Annotations{Labels: map[string]string{LabelServiceName: "web"}}}
			got, err := resolveFiles(&tt.spec, tt.deps, template.NewContext(tk, nil))
			if tt.errText != "" {
				if !errdefs.Is(err, tt.wantErr) || err.Error() != tt.errText {
					t.Fatalf("got error %v, want %v %q", err, tt.wantErr, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(containerFile{})); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// prepareWith prepares task's container with deps and removes it when the
// test ends.
func prepareWith(t testing.TB, e *Executor, task *swarm.Task, deps executor.Dependencies) executor.Controller {
	t.Helper()
	ctl, err := e.Controller(task, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ctl.Remove(context.Background()); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if err := ctl.Prepare(t.Context()); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	return ctl
}

func TestSecretsAndConfigsInContainer(t *testing.T) {
	e := newExecutor(t, "")
	deps := testDeps{
		secrets: map[string]*swarm.Secret{"s1": testSecret("s1", "hunter2"), "s2": testSecret("s2", "plain"), "s3": testSecret("s3", "abs")},
		configs: map[string]*swarm.Config{"c1": testConfig("c1", "k=v"), "c2": testConfig("c2", "default")},
	}
	task := newTask("sh", "-c", `for f in /run/secrets/db_pw /run/secrets/plain /abs/secret /etc/app.conf /appcfg; do echo "$(cat $f)"; done
stat -c "%n %a %u %g" /run/secrets/db_pw /run/secrets/plain /abs/secret /etc/app.conf /appcfg
(echo x >> /run/secrets/db_pw) 2>/dev/null && echo writable || echo read-only`)
	cs := task.Spec.ContainerSpec
	cs.Secrets = []*swarm.SecretReference{
		{SecretID: "s1", SecretName: "db_pw", File: &swarm.SecretReferenceFileTarget{Name: "db_pw", UID: "1000", GID: "1001", Mode: 0o400}},
		{SecretID: "s2", SecretName: "plain"},
		{SecretID: "s3", SecretName: "abs", File: &swarm.SecretReferenceFileTarget{Name: "/abs/secret"}},
	}
	cs.Configs = []*swarm.ConfigReference{
		{ConfigID: "c1", ConfigName: "app", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/app.conf", UID: "33", GID: "33", Mode: 0o640}},
		{ConfigID: "c2", ConfigName: "appcfg", File: &swarm.ConfigReferenceFileTarget{}},
		// Not in deps: a runtime target is no file and is not looked up.
		{ConfigID: "cred", ConfigName: "cred", Runtime: &swarm.ConfigReferenceRuntimeTarget{}},
	}
	ctl := prepareWith(t, e, task, deps)
	id := ContainerID(task.ID)
	dir := e.filesDir(id)

	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatalf("statfs of the secrets directory: %v", err)
	}
	if fs.Type != unix.TMPFS_MAGIC || fs.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("secrets directory: got file system type %#x flags %#x, want a read-only tmpfs (%#x)", fs.Type, fs.Flags, unix.TMPFS_MAGIC)
	}

	if err := ctl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, ctl); st.Code != 0 {
		t.Errorf("got exit code %d, want 0", st.Code)
	}
	want := `hunter2
plain
abs
k=v
default
/run/secrets/db_pw 400 1000 1001
/run/secrets/plain 444 0 0
/abs/secret 444 0 0
/etc/app.conf 640 33 33
/appcfg 444 0 0
read-only
`
	if diff := cmp.Diff(want, logText(t, e, id)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	if err := ctl.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secrets directory after remove: got %v, want it gone", err)
	}
	assertGone(t, e, id)
}

func TestMissingDependencyFailsPrepare(t *testing.T) {
	e := newExecutor(t, "")
	tests := []struct {
		name    string
		secrets []*swarm.SecretReference
		configs []*swarm.ConfigReference
		deps    executor.Dependencies
		want    string
	}{
		{
			name:    "secret",
			secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db_pw"}},
			deps:    testDeps{configs: map[string]*swarm.Config{"c1": testConfig("c1", "k=v")}},
			want:    "secret db_pw not found on this node",
		},
		{
			name:    "config after a secret that is there",
			secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db_pw"}},
			configs: []*swarm.ConfigReference{{ConfigID: "c1", ConfigName: "app", File: &swarm.ConfigReferenceFileTarget{Name: "/app"}}},
			deps:    testDeps{secrets: map[string]*swarm.Secret{"s1": testSecret("s1", "pw")}},
			want:    "config app not found on this node",
		},
		{
			name:    "no dependencies given",
			secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db_pw"}},
			want:    "secret db_pw not found on this node",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := newTask("true")
			task.Spec.ContainerSpec.Secrets, task.Spec.ContainerSpec.Configs = tt.secrets, tt.configs
			ctl, err := e.Controller(task, tt.deps)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ctl.Remove(context.Background()) })
			err = ctl.Prepare(t.Context())
			if !errdefs.Is(err, errdefs.KindNotFound) || err.Error() != tt.want {
				t.Fatalf("got %v, want NotFound %q", err, tt.want)
			}
			id := ContainerID(task.ID)
			assertGone(t, e, id)
			if _, err := os.Stat(e.filesDir(id)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("secrets directory: got %v, want none", err)
			}
		})
	}
}

// TestSecretsAcrossRestart prepares containers with one executor and
// starts them with another over the same root, as a restarted daemon
// does: the secrets stay mounted, and are mounted again from the
// dependencies when they are gone, as after a reboot.
func TestSecretsAcrossRestart(t *testing.T) {
	root := t.TempDir()
	e1 := newExecutor(t, root)
	deps := testDeps{secrets: map[string]*swarm.Secret{"s1": testSecret("s1", "hunter2")}}
	newSecretTask := func() *swarm.Task {
		task := newTask("cat", "/run/secrets/pw")
		task.Spec.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretID: "s1", SecretName: "pw"}}
		return task
	}
	kept, rebooted := newSecretTask(), newSecretTask()
	prepareWith(t, e1, kept, deps)
	prepareWith(t, e1, rebooted, deps)
	// A reboot takes the tmpfs and the directory it was mounted on.
	if err := unmountFiles(e1.filesDir(ContainerID(rebooted.ID))); err != nil {
		t.Fatal(err)
	}

	e2 := newExecutor(t, root)
	// The sessions of a restarted daemon may not have brought the
	// dependencies yet.
	ctl, err := e2.Controller(kept, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(t.Context()); err != nil {
		t.Fatalf("start with the secrets still mounted: %v", err)
	}
	if st := wait(t, ctl); st.Code != 0 {
		t.Errorf("kept: got exit code %d, want 0", st.Code)
	}
	if got := logText(t, e2, ContainerID(kept.ID)); got != "hunter2" {
		t.Errorf("kept: got output %q, want hunter2", got)
	}

	ctl, err = e2.Controller(rebooted, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(t.Context()); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("start after a reboot without the secret: got %v, want NotFound", err)
	}
	ctl, err = e2.Controller(rebooted, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(t.Context()); err != nil {
		t.Fatalf("start after a reboot: %v", err)
	}
	if st := wait(t, ctl); st.Code != 0 {
		t.Errorf("rebooted: got exit code %d, want 0", st.Code)
	}
	if got := logText(t, e2, ContainerID(rebooted.ID)); got != "hunter2" {
		t.Errorf("rebooted: got output %q, want hunter2", got)
	}
}
