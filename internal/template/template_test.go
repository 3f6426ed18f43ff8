package template

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

func task(slot int) *swarm.Task {
	return &swarm.Task{
		ID:        "taskid1",
		ServiceID: "svcid1",
		NodeID:    "nodeid1",
		Slot:      slot,
		Annotations: swarm.Annotations{Labels: map[string]string{
			serviceNameLabel: "web",
			"tier":           "front",
		}},
	}
}

var node = &swarm.NodeDescription{Hostname: "host1", Platform: swarm.Platform{Architecture: "x86_64", OS: "linux"}}

func TestExpand(t *testing.T) {
	for _, tt := range []struct {
		name, in, want, err string
		task                *swarm.Task
	}{
		{name: "plain text", in: "web-1", want: "web-1"},
		{name: "service", in: "{{.Service.ID}} {{.Service.Name}} {{.Service.Labels.tier}}", want: "svcid1 web front"},
		{name: "service labels hide the name label", in: "{{len .Service.Labels}}", want: "1"},
		{name: "node", in: "{{.Node.ID}} {{.Node.Hostname}} {{.Node.Platform.OS}}/{{.Node.Platform.Architecture}}", want: "nodeid1 host1 linux/x86_64"},
		{name: "task", in: "{{.Task.ID}} {{.Task.Name}} {{.Task.Slot}}", want: "taskid1 web.3.taskid1 3"},
		{name: "slot of a global task is its node", in: "{{.Task.Slot}} {{.Task.Name}}", task: task(0), want: "nodeid1 web.nodeid1.taskid1"},
		{name: "join", in: `{{join "-" .Service.Name .Task.Slot}}`, want: "web-3"},
		{name: "missing label", in: "{{.Service.Labels.nope}}", err: `template: F:1:10: executing "F" at <.Service.Labels.nope>: map has no entry for key "nope"`},
		{name: "unknown field", in: "{{.Service.Nope}}", err: `can't evaluate field Nope`},
		{name: "parse error names the field", in: "{{.Service.Name", err: `template: F:1: unclosed action`},
		{name: "unknown function", in: `{{secret "x"}}`, err: `template: F:1: function "secret" not defined`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tk := tt.task
			if tk == nil {
				tk = task(3)
			}
			got, err := NewContext(tk, node).Expand("F", tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestExpandContainerSpec(t *testing.T) {
	in := &swarm.ContainerSpec{
		Hostname: "{{.Service.Name}}-{{.Task.Slot}}",
		Env:      []string{"PLAIN=x", "SLOT={{.Task.Slot}}", "{{.Not}}=name kept", "NOVALUE"},
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: "data-{{.Task.Slot}}", Target: "/data/{{.Node.Hostname}}",
				VolumeOptions: &mount.VolumeOptions{
					Labels:       map[string]string{"svc": "{{.Service.Name}}"},
					DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"device": "/srv/{{.Task.Slot}}"}},
				}},
			{Type: mount.TypeTmpfs, Target: "/tmp"},
		},
	}
	got, err := ExpandContainerSpec(NewContext(task(2), node), in)
	if err != nil {
		t.Fatal(err)
	}
	want := &swarm.ContainerSpec{
		Hostname: "web-2",
		Env:      []string{"PLAIN=x", "SLOT=2", "{{.Not}}=name kept", "NOVALUE"},
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: "data-2", Target: "/data/host1",
				VolumeOptions: &mount.VolumeOptions{
					Labels:       map[string]string{"svc": "web"},
					DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"device": "/srv/2"}},
				}},
			{Type: mount.TypeTmpfs, Target: "/tmp"},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("expanded spec (-want +got):\n%s", d)
	}
	// The spec it came from keeps its templates.
	if in.Hostname != "{{.Service.Name}}-{{.Task.Slot}}" || in.Env[1] != "SLOT={{.Task.Slot}}" ||
		in.Mounts[0].Source != "data-{{.Task.Slot}}" || in.Mounts[0].VolumeOptions.Labels["svc"] != "{{.Service.Name}}" ||
		in.Mounts[0].VolumeOptions.DriverConfig.Options["device"] != "/srv/{{.Task.Slot}}" {
		t.Errorf("the input spec was changed: %+v", in)
	}
}

func TestExpandContainerSpecErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct {
		name string
		cs   swarm.ContainerSpec
		want string
	}{
		{"hostname", swarm.ContainerSpec{Hostname: "{{.Nope}}"}, "template: ContainerSpec.Hostname:1:2: executing"},
		{"env", swarm.ContainerSpec{Env: []string{"A=1", "B={{"}}, "template: ContainerSpec.Env[B]:1: unclosed action"},
		{"mount source", swarm.ContainerSpec{Mounts: []mount.Mount{{Source: "{{end}}"}}}, "template: ContainerSpec.Mounts[0].Source:1: unexpected {{end}}"},
		{"mount target", swarm.ContainerSpec{Mounts: []mount.Mount{{Target: "/{{.Task.Nope}}"}}}, "template: ContainerSpec.Mounts[0].Target:1:8: executing"},
		{"volume label", swarm.ContainerSpec{Mounts: []mount.Mount{{VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{"l": "{{"}}}}},
			"template: ContainerSpec.Mounts[0].VolumeOptions.Labels[l]:1: unclosed action"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ExpandContainerSpec(NewContext(task(1), node), &tt.cs)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func TestCheckService(t *testing.T) {
	spec := &swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "api", Labels: map[string]string{"env": "prod"}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Hostname: "{{.Service.Name}}-{{.Service.Labels.env}}-{{.Task.Slot}}",
		}},
	}
	cs, err := CheckService(spec)
	if err != nil || cs.Hostname != "api-prod-1" {
		t.Fatalf("got %v, %v; want the hostname expanded for a sample task", cs, err)
	}
	spec.TaskTemplate.ContainerSpec.Hostname = "{{.Service.Labels.nope}}"
	if _, err := CheckService(spec); err == nil || !strings.Contains(err.Error(), `map has no entry for key "nope"`) {
		t.Fatalf("a label the service does not have: got %v, want refused", err)
	}
}

type deps struct {
	secrets map[string]*swarm.Secret
	configs map[string]*swarm.Config
}

func (d deps) Secret(id string) (*swarm.Secret, bool) { s, ok := d.secrets[id]; return s, ok }
func (d deps) Config(id string) (*swarm.Config, bool) { c, ok := d.configs[id]; return c, ok }

func TestExpandPayload(t *testing.T) {
	cs := &swarm.ContainerSpec{
		Env: []string{"MODE=fast", "EMPTY="},
		Secrets: []*swarm.SecretReference{
			{SecretID: "s1", SecretName: "db_pass", File: &swarm.SecretReferenceFileTarget{Name: "db_pass"}},
			{SecretID: "s2", SecretName: "api_key", File: &swarm.SecretReferenceFileTarget{Name: "key.txt"}},
			{SecretID: "s3", SecretName: "gone", File: &swarm.SecretReferenceFileTarget{Name: "gone"}},
		},
		Configs: []*swarm.ConfigReference{
			{ConfigID: "c1", ConfigName: "base", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/base.conf"}},
		},
	}
	d := deps{
		secrets: map[string]*swarm.Secret{
			"s1": {Spec: swarm.SecretSpec{Data: []byte("hunter2")}},
			"s2": {Spec: swarm.SecretSpec{Data: []byte("k-123")}},
			"s9": {Spec: swarm.SecretSpec{Data: []byte("not the task's")}},
		},
		configs: map[string]*swarm.Config{"c1": {Spec: swarm.ConfigSpec{Data: []byte("base=1")}}},
	}
	for _, tt := range []struct{ name, in, want, err string }{
		{name: "context", in: "{{.Service.Name}}.{{.Task.Slot}}", want: "web.4"},
		{name: "secret by its target", in: `pass={{secret "db_pass"}} key={{secret "key.txt"}}`, want: "pass=hunter2 key=k-123"},
		{name: "config", in: `{{config "/etc/base.conf"}}`, want: "base=1"},
		{name: "env", in: `{{env "MODE"}}|{{env "EMPTY"}}|{{env "UNSET"}}`, want: "fast||"},
		{name: "secret by name when the target differs", in: `{{secret "api_key"}}`, err: "secret target api_key not found"},
		{name: "a secret the task does not use", in: `{{secret "s9"}}`, err: "secret target s9 not found: the service must use the secret"},
		{name: "a secret the node was not sent", in: `{{secret "gone"}}`, err: "secret gone not found on this node"},
		{name: "a config the task does not use", in: `{{config "other"}}`, err: "config target other not found"},
		{name: "parse error", in: `{{secret "db_pass"`, err: "template: config app:1: unclosed action"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandPayload("config app", []byte(tt.in), NewContext(task(4), node), cs, d)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckPayload(t *testing.T) {
	for _, tt := range []struct{ in, err string }{
		{in: "plain"},
		{in: `{{secret "x"}} {{config "y"}} {{env "Z"}} {{.Service.Labels.any}}`},
		{in: `{{secret "x"`, err: "template: config c:1: unclosed action"},
		{in: `{{nope}}`, err: `template: config c:1: function "nope" not defined`},
	} {
		err := CheckPayload("config c", []byte(tt.in))
		if (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("CheckPayload(%q) = %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestTemplated(t *testing.T) {
	for _, tt := range []struct {
		d         *swarm.Driver
		templated bool
		err       bool
	}{
		{nil, false, false},
		{&swarm.Driver{Name: "golang"}, true, false},
		{&swarm.Driver{Name: "mustache"}, false, true},
	} {
		got, err := Templated(tt.d)
		if got != tt.templated || (err != nil) != tt.err {
			t.Errorf("Templated(%v) = %v, %v; want %v, error %v", tt.d, got, err, tt.templated, tt.err)
		}
	}
}
