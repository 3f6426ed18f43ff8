package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
)

// secretServer is a swarm holding two secrets, one of them used by a service.
func secretServer(t *testing.T) *fakeapi.Server {
	t.Helper()
	srv := swarmServer(t)
	srv.Secrets = []swarm.Secret{
		{
			ID:   "sec1000000000000000000000",
			Meta: swarm.Meta{Version: swarm.Version{Index: 3}, CreatedAt: srv.Now.Add(-2 * time.Hour), UpdatedAt: srv.Now.Add(-time.Minute)},
			Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db-password", Labels: map[string]string{"env": "prod", "team": ""}}, Data: []byte("hunter2")},
		},
		{
			ID:   "sec2000000000000000000000",
			Meta: swarm.Meta{Version: swarm.Version{Index: 5}, CreatedAt: srv.Now.Add(-30 * time.Second), UpdatedAt: srv.Now.Add(-30 * time.Second)},
			Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "api-key"}, Data: []byte("s3cr3t")},
		},
	}
	srv.Services = []swarm.Service{{ID: "svc1", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "sec1000000000000000000000", SecretName: "db-password"}}}},
	}}}
	return srv
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "content")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSecretCreate(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		// want is the spec sent; nil when nothing may be sent.
		want *swarm.SecretSpec
	}{
		{
			name: "from file", args: []string{"secret", "create", "tls-key", "FILE"},
			want: &swarm.SecretSpec{Annotations: swarm.Annotations{Name: "tls-key"}, Data: []byte("from a file\n")},
		},
		{
			name: "from stdin with labels", stdin: "from stdin", args: []string{"secret", "create", "-l", "env=prod", "--label", "team", "token", "-"},
			want: &swarm.SecretSpec{Annotations: swarm.Annotations{Name: "token", Labels: map[string]string{"env": "prod", "team": ""}}, Data: []byte("from stdin")},
		},
		{name: "no file", args: []string{"secret", "create", "token"}},
		{name: "empty stdin", args: []string{"secret", "create", "token", "-"}},
		{name: "missing file", args: []string{"secret", "create", "token", "nosuch.txt"}},
		{name: "bad label", stdin: "x", args: []string{"secret", "create", "-l", "=v", "token", "-"}},
		{
			name: "name taken", stdin: "x", args: []string{"secret", "create", "DB-PASSWORD", "-"},
			want: &swarm.SecretSpec{Annotations: swarm.Annotations{Name: "DB-PASSWORD"}, Data: []byte("x")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := secretServer(t)
			file := writeTemp(t, "from a file\n")
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "FILE", file)
			}
			checkGolden(t, "secret-create-"+tt.name, shoal(t, srv, tt.stdin, args...))
			reqs := srv.Find("POST", "/secrets/create")
			if tt.want == nil {
				if len(reqs) != 0 {
					t.Errorf("got %d creates, want none", len(reqs))
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("got %d creates, want one", len(reqs))
			}
			var got swarm.SecretSpec
			reqs[0].Decode(t, &got)
			if diff := cmp.Diff(*tt.want, got); diff != "" {
				t.Errorf("spec sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecretList(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"table", []string{"secret", "ls"}},
		{"quiet", []string{"secret", "ls", "-q"}},
		{"template", []string{"secret", "ls", "--format", "{{.Name}}: {{.Labels}} {{.Label \"env\"}}"}},
		{"table template", []string{"secret", "ls", "--format", `table {{.Name}}\t{{.Label "env"}}\t{{.CreatedAt}}`}},
		{"json", []string{"secret", "ls", "--format", "json"}},
		{"filtered", []string{"secret", "ls", "-f", "name=db"}},
		{"bad template", []string{"secret", "ls", "--format", "{{.Nope}}"}},
		{"bad filter", []string{"secret", "ls", "-f", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, "secret-ls-"+tt.name, shoal(t, secretServer(t), "", tt.args...))
		})
	}
}

func TestSecretListSendsFilters(t *testing.T) {
	srv := secretServer(t)
	shoal(t, srv, "", "secret", "ls", "-f", "label=env=prod")
	if got := srv.Find("GET", "/secrets")[0].Query.Get("filters"); got != `{"label":{"env=prod":true}}` {
		t.Errorf("got filters %s, want label=env=prod", got)
	}
}

func TestSecretInspect(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// raw, if set, is what the daemon answers for api-key: JSON with a
		// field the typed secret lacks, for the template's fallback.
		raw string
	}{
		{"pretty", []string{"secret", "inspect", "--pretty", "db-password", "api-key"}, ""},
		{"pretty not found", []string{"secret", "inspect", "--pretty", "db-password", "nosuch"}, ""},
		{"pretty extra", []string{"secret", "inspect", "--format", "pretty {{.ID}}", "db-password"}, ""},
		{"template", []string{"secret", "inspect", "-f", "{{.Spec.Name}} {{index .Spec.Labels \"env\"}}", "db-password", "sec2"}, ""},
		{"raw fallback", []string{"secret", "inspect", "-f", "{{.Spec.Name}} {{.Extra}}", "api-key"}, `{"ID":"sec2000000000000000000000","Spec":{"Name":"api-key"},"Extra":"from the daemon"}`},
		{"missing key", []string{"secret", "inspect", "-f", "{{.Spec.Name}} {{.Extra}}", "api-key"}, ""},
		{"json", []string{"secret", "inspect", "--format", "json", "api-key"}, ""},
		{"not found", []string{"secret", "inspect", "nosuch", "api-key", "other"}, ""},
		{"all not found", []string{"secret", "inspect", "-f", "{{.ID}}", "nosuch"}, ""},
		{"bad template", []string{"secret", "inspect", "-f", "{{.ID", "api-key"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := secretServer(t)
			if tt.raw != "" {
				srv.Streams["GET /secrets/api-key"] = []byte(tt.raw)
			}
			checkGolden(t, "secret-inspect-"+tt.name, shoal(t, srv, "", tt.args...))
		})
	}
}

func TestSecretInspectNeverShowsData(t *testing.T) {
	// A daemon that sends the data (Shoal's does not) still gets it hidden.
	leaky := `{"ID":"sec1000000000000000000000","Version":{"Index":3},"Spec":{"Name":"db-password","Data":"aHVudGVyMg=="}}`
	for _, args := range [][]string{
		{"secret", "inspect", "db-password"},
		{"secret", "inspect", "--format", "json", "db-password"},
		{"secret", "inspect", "-f", "{{.Spec.Data}}|{{json .Spec}}", "db-password"},
		{"secret", "inspect", "--pretty", "db-password"},
	} {
		t.Run(strings.Join(args[2:], " "), func(t *testing.T) {
			srv := secretServer(t)
			srv.Streams["GET /secrets/db-password"] = []byte(leaky)
			r := shoal(t, srv, "", args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if strings.Contains(r.stdout, "aHVudGVyMg") || strings.Contains(r.stdout, "hunter2") || !strings.Contains(r.stdout, "db-password") {
				t.Errorf("got output %q, want the secret without its data", r.stdout)
			}
		})
	}
	r := shoal(t, secretServer(t), "", "secret", "inspect", "db-password")
	var got []swarm.Secret
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].Spec.Name != "db-password" || got[0].Spec.Data != nil {
		t.Errorf("got %q (%v), want one secret, db-password, without data", r.stdout, err)
	}
}

func TestSecretRemove(t *testing.T) {
	srv := secretServer(t)
	checkGolden(t, "secret-rm", shoal(t, srv, "", "secret", "rm", "api-key", "db-password", "nosuch"))
	if len(srv.Secrets) != 1 || srv.Secrets[0].Spec.Name != "db-password" {
		t.Errorf("got secrets %v, want only db-password (in use by web) left", srv.Secrets)
	}
}
