package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
)

// configServer is a swarm holding two configs, one of them used by a service.
func configServer(t *testing.T) *fakeapi.Server {
	t.Helper()
	srv := swarmServer(t)
	srv.Configs = []swarm.Config{
		{
			ID:   "cfg1000000000000000000000",
			Meta: swarm.Meta{Version: swarm.Version{Index: 4}, CreatedAt: srv.Now.Add(-3 * 24 * time.Hour), UpdatedAt: srv.Now.Add(-time.Hour)},
			Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "nginx.conf", Labels: map[string]string{"app": "web"}}, Data: []byte("server {\n  listen 80;\n}\n")},
		},
		{
			ID:   "cfg2000000000000000000000",
			Meta: swarm.Meta{Version: swarm.Version{Index: 6}, CreatedAt: srv.Now.Add(-5 * time.Second), UpdatedAt: srv.Now.Add(-5 * time.Second)},
			Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.env"}, Data: []byte("MODE=fast")},
		},
	}
	srv.Services = []swarm.Service{{ID: "svc1", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Configs: []*swarm.ConfigReference{{ConfigID: "cfg1000000000000000000000", ConfigName: "nginx.conf"}}}},
	}}}
	return srv
}

func TestConfigCreate(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		// want is the spec sent; nil when nothing may be sent.
		want *swarm.ConfigSpec
	}{
		{
			name: "from file", args: []string{"config", "create", "site.conf", "FILE"},
			want: &swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "site.conf"}, Data: []byte("from a file\n")},
		},
		{
			name: "from stdin with labels", stdin: "A=1", args: []string{"config", "create", "--label", "app=api", "api.env", "-"},
			want: &swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "api.env", Labels: map[string]string{"app": "api"}}, Data: []byte("A=1")},
		},
		{
			name: "templated", stdin: "{{.Service.Name}}", args: []string{"config", "create", "--template-driver", "golang", "tmpl.conf", "-"},
			want: &swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "tmpl.conf"}, Data: []byte("{{.Service.Name}}"), Templating: &swarm.Driver{Name: "golang"}},
		},
		{name: "no file", args: []string{"config", "create", "api.env"}},
		{name: "empty stdin", args: []string{"config", "create", "api.env", "-"}},
		{name: "missing file", args: []string{"config", "create", "api.env", "nosuch.txt"}},
		{
			name: "name taken", stdin: "x", args: []string{"config", "create", "app.env", "-"},
			want: &swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.env"}, Data: []byte("x")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := configServer(t)
			file := writeTemp(t, "from a file\n")
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "FILE", file)
			}
			checkGolden(t, "config-create-"+tt.name, shoal(t, srv, tt.stdin, args...))
			reqs := srv.Find("POST", "/configs/create")
			if tt.want == nil {
				if len(reqs) != 0 {
					t.Errorf("got %d creates, want none", len(reqs))
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("got %d creates, want one", len(reqs))
			}
			var got swarm.ConfigSpec
			reqs[0].Decode(t, &got)
			if diff := cmp.Diff(*tt.want, got); diff != "" {
				t.Errorf("spec sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigList(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"table", []string{"config", "ls"}},
		{"quiet", []string{"config", "ls", "-q"}},
		{"json", []string{"config", "ls", "--format", "json"}},
		{"template", []string{"config", "ls", "--format", `{{truncate .ID 6}} {{upper .Name}} {{.Labels}} {{join (split .Name ".") "+"}}`}},
		{"filtered", []string{"config", "ls", "--filter", "label=app"}},
		{"no driver column", []string{"config", "ls", "--format", "{{.Driver}}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, "config-ls-"+tt.name, shoal(t, configServer(t), "", tt.args...))
		})
	}
}

func TestConfigInspect(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"pretty", []string{"config", "inspect", "--pretty", "nginx.conf", "cfg2"}},
		{"template", []string{"config", "inspect", "--format", "{{.Spec.Name}}={{printf \"%s\" .Spec.Data}}", "app.env"}},
		{"not found", []string{"config", "inspect", "--pretty", "nosuch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, "config-inspect-"+tt.name, shoal(t, configServer(t), "", tt.args...))
		})
	}

	r := shoal(t, configServer(t), "", "config", "inspect", "app.env", "nginx.conf")
	var got []swarm.Config
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("output is not a JSON array of configs: %v\n%s", err, r.stdout)
	}
	if len(got) != 2 || got[0].Spec.Name != "app.env" || string(got[0].Spec.Data) != "MODE=fast" || got[1].Spec.Name != "nginx.conf" {
		t.Errorf("got %+v, want app.env with its data, then nginx.conf", got)
	}
}

func TestConfigRemove(t *testing.T) {
	srv := configServer(t)
	checkGolden(t, "config-rm", shoal(t, srv, "", "config", "rm", "nginx.conf", "nosuch", "app.env"))
	if len(srv.Configs) != 1 || srv.Configs[0].Spec.Name != "nginx.conf" {
		t.Errorf("got configs %v, want only nginx.conf (in use by web) left", srv.Configs)
	}
}
