package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// TestSecretAndConfigErrors sends bad secret and config requests and
// checks the status, the message and that the store did not change.
func TestSecretAndConfigErrors(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	for _, kind := range []string{"secrets", "configs"} {
		if r := c.do("POST", "/v1.41/"+kind+"/create", map[string]any{"Name": "taken", "Data": []byte("x")}); r.code != http.StatusCreated {
			t.Fatalf("create %s got %d %s, want 201", kind, r.code, r.body)
		}
	}
	pw := decode[[]swarm.Secret](t, c.do("GET", "/secrets", nil))[0]
	app := decode[[]swarm.Config](t, c.do("GET", "/configs", nil))[0]
	web := serviceSpec("web")
	web.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretID: pw.ID, SecretName: "taken",
		File: &swarm.SecretReferenceFileTarget{Name: "taken", UID: "0", GID: "0", Mode: 0o444}}}
	web.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: app.ID, ConfigName: "taken",
		File: &swarm.ConfigReferenceFileTarget{Name: "/etc/taken", UID: "0", GID: "0", Mode: 0o444}}}
	createService(t, c, web)
	before := storeState(t, tc.store)

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		code   int
		msg    string
	}{
		{"secret name taken", "POST", "/secrets/create", `{"Name":"taken","Data":"eQ=="}`, 409, "rpc error: code = AlreadyExists desc = secret taken already exists"},
		{"config name taken", "POST", "/configs/create", `{"Name":"TAKEN","Data":"eQ=="}`, 409, "rpc error: code = AlreadyExists desc = config TAKEN already exists"},
		{"bad secret name", "POST", "/secrets/create", `{"Name":"a/b","Data":"eQ=="}`, 400,
			"rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"},
		{"secret without data", "POST", "/secrets/create", `{"Name":"empty"}`, 400, "secret data must be larger than 0 and less than 512000 bytes"},
		{"config without data", "POST", "/configs/create", `{"Name":"empty"}`, 400, "config data must be larger than 0 and less than 1024000 bytes"},
		{"secret driver", "POST", "/secrets/create", `{"Name":"v","Data":"eQ==","Driver":{"Name":"vault"}}`, 400, "Driver: secret drivers are not supported"},
		{"config template driver", "POST", "/configs/create", `{"Name":"t","Data":"eQ==","Templating":{"Name":"mustache"}}`, 400, `Templating: unknown template driver "mustache"`},
		{"config template that does not parse", "POST", "/configs/create", `{"Name":"t","Data":"e3sgLlNlcnZpY2UuTmFtZQ==","Templating":{"Name":"golang"}}`, 400, "template: config t:1: unclosed action"},
		{"data not base64", "POST", "/secrets/create", `{"Name":"b","Data":"not base64!"}`, 400, "invalid JSON"},
		{"no secret", "GET", "/secrets/nope", nil, 404, "secret nope not found"},
		{"no config", "GET", "/configs/nope", nil, 404, "config nope not found"},
		{"rm no secret", "DELETE", "/secrets/nope", nil, 404, "secret nope not found"},
		{"rm secret in use", "DELETE", "/secrets/taken", nil, 400, "rpc error: code = InvalidArgument desc = secret 'taken' is in use by the following service: web"},
		{"rm config in use", "DELETE", "/configs/" + app.ID, nil, 400, "config 'taken' is in use by the following service: web"},
		{"update without version", "POST", "/secrets/taken/update", `{"Name":"taken"}`, 400, "invalid secret version"},
		{"update stale version", "POST", fmt.Sprintf("/secrets/taken/update?version=%d", pw.Version.Index+1), `{"Name":"taken"}`, 409, "update out of sequence"},
		{"update data", "POST", fmt.Sprintf("/configs/taken/update?version=%d", app.Version.Index), `{"Name":"taken","Data":"eg=="}`, 400,
			"rpc error: code = InvalidArgument desc = only updates to Labels are allowed"},
		{"list bad filter", "GET", "/secrets?filters=" + `{"driver":{"x":true}}`, nil, 400, "invalid filter 'driver'"},
		{"service with unknown target form", "POST", "/services/create",
			`{"Name":"api","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Secrets":[{"SecretID":"` + pw.ID + `","SecretName":"taken"}]}}}`, 400,
			"malformed secret reference, no target provided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, c.do(tt.method, tt.path, tt.body), tt.code, tt.msg)
			if storeState(t, tc.store) != before {
				t.Fatal("a refused request changed the store")
			}
		})
	}
}

// TestClientSecretsAndConfigs drives the endpoints with the Docker Go
// client, as docker secret/config and stack deploy do.
func TestClientSecretsAndConfigs(t *testing.T) {
	tc := newTestCluster(t)
	sock := serve(t, Config{Cluster: tc})
	c := dockerClient(t, sock)
	ctx := t.Context()

	spec := swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_pass", Labels: map[string]string{"com.docker.stack.namespace": "app"}}, Data: []byte("s3cret")}
	created, err := c.SecretCreate(ctx, client.SecretCreateOptions{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.ID) != 25 {
		t.Fatalf("secret ID got %q, want 25 characters", created.ID)
	}
	if _, err := c.SecretCreate(ctx, client.SecretCreateOptions{Spec: spec}); !cerrdefs.IsConflict(err) {
		t.Fatalf("duplicate create got %v, want a conflict", err)
	}
	got, err := c.SecretInspect(ctx, "db_pass", client.SecretInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret.ID != created.ID || got.Secret.Spec.Name != "db_pass" || strings.Contains(string(got.Raw), `"Data"`) {
		t.Fatalf("inspect got %s, want db_pass without Data", got.Raw)
	}
	list, err := c.SecretList(ctx, client.SecretListOptions{Filters: make(client.Filters).Add("label", "com.docker.stack.namespace=app")})
	if err != nil || len(list.Items) != 1 || list.Items[0].Spec.Data != nil {
		t.Fatalf("list by stack label got %+v, %v; want db_pass without data", list.Items, err)
	}
	if _, err := c.SecretInspect(ctx, "nope", client.SecretInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect of a missing secret got %v, want not found (stack deploy creates on 404)", err)
	}

	// stack deploy again: the same spec, data included, at the current version.
	if _, err := c.SecretUpdate(ctx, created.ID, client.SecretUpdateOptions{Version: got.Secret.Version, Spec: spec}); err != nil {
		t.Fatalf("update with the same data: %v", err)
	}
	changed := spec
	changed.Data = []byte("other")
	after, _ := c.SecretInspect(ctx, created.ID, client.SecretInspectOptions{})
	if _, err := c.SecretUpdate(ctx, created.ID, client.SecretUpdateOptions{Version: after.Secret.Version, Spec: changed}); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("update with new data got %v, want invalid argument", err)
	}

	cfgSpec := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.conf"}, Data: []byte("port=80\n")}
	cfg, err := c.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: cfgSpec})
	if err != nil {
		t.Fatal(err)
	}
	gotCfg, err := c.ConfigInspect(ctx, cfg.ID[:6], client.ConfigInspectOptions{})
	if err != nil || string(gotCfg.Config.Spec.Data) != "port=80\n" {
		t.Fatalf("config inspect got %+v, %v; want its data", gotCfg.Config, err)
	}
	labelled := cfgSpec
	labelled.Labels = map[string]string{"v": "2"}
	if _, err := c.ConfigUpdate(ctx, cfg.ID, client.ConfigUpdateOptions{Version: gotCfg.Config.Version, Spec: labelled}); err != nil {
		t.Fatal(err)
	}
	cfgs, err := c.ConfigList(ctx, client.ConfigListOptions{Filters: make(client.Filters).Add("label", "v=2")})
	if err != nil || len(cfgs.Items) != 1 || cfgs.Items[0].ID != cfg.ID {
		t.Fatalf("config list by new label got %+v, %v; want app.conf", cfgs.Items, err)
	}

	if _, err := c.SecretRemove(ctx, "db_pass", client.SecretRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConfigRemove(ctx, cfg.ID, client.ConfigRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := newClient(t, sock).do("GET", "/secrets", nil)
	if raw.code != http.StatusOK || strings.TrimSpace(string(raw.body)) != "[]" {
		t.Fatalf("list after remove got %d %s, want 200 []", raw.code, raw.body)
	}
}

// TestSecretStatusCodes checks the success statuses dockerd answers with,
// which the Go client does not look at.
func TestSecretStatusCodes(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	for _, kind := range []string{"secrets", "configs"} {
		r := c.do("POST", "/"+kind+"/create", `{"Name":"x","Data":"eQ=="}`)
		var created struct{ ID string }
		if err := json.Unmarshal(r.body, &created); r.code != http.StatusCreated || err != nil || created.ID == "" {
			t.Fatalf("create %s got %d %s, want 201 with an ID", kind, r.code, r.body)
		}
		insp := c.do("GET", "/"+kind+"/x", nil)
		var obj struct{ Version swarm.Version }
		if err := json.Unmarshal(insp.body, &obj); insp.code != http.StatusOK || err != nil {
			t.Fatalf("inspect %s got %d %s", kind, insp.code, insp.body)
		}
		if r := c.do("POST", fmt.Sprintf("/%s/x/update?version=%d", kind, obj.Version.Index), `{"Name":"x","Labels":{"a":"b"}}`); r.code != http.StatusOK || len(r.body) != 0 {
			t.Fatalf("update %s got %d %q, want 200 with no body", kind, r.code, r.body)
		}
		if r := c.do("DELETE", "/"+kind+"/"+created.ID, nil); r.code != http.StatusNoContent {
			t.Fatalf("remove %s got %d %s, want 204", kind, r.code, r.body)
		}
	}
}
