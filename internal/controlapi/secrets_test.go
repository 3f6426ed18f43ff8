package controlapi

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/store"
)

func secretSpec(name, data string) swarm.SecretSpec {
	return swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}, Data: []byte(data)}
}

func mustCreateSecret(t *testing.T, a *API, name, data string) string {
	t.Helper()
	id, err := a.CreateSecret(t.Context(), secretSpec(name, data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func storedSecret(t *testing.T, s *store.Store, id string) *store.Secret {
	t.Helper()
	var sec *store.Secret
	s.View(func(tx store.ReadTx) { sec = store.Get[*store.Secret](tx, id) })
	if sec == nil {
		t.Fatalf("secret %s not in the store", id)
	}
	return sec
}

// serviceUsing stores a service whose spec references the given secrets
// and configs, as CreateService would once it checked them.
func serviceUsing(t *testing.T, s *store.Store, id, name string, secrets []*swarm.SecretReference, configs []*swarm.ConfigReference) {
	t.Helper()
	spec := validSpec(name)
	spec.TaskTemplate.ContainerSpec.Secrets, spec.TaskTemplate.ContainerSpec.Configs = secrets, configs
	put(t, s, &store.Service{Service: swarm.Service{ID: id, Spec: spec}})
}

func TestCreateSecretStoresDataAndHidesIt(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreateSecret(t, a, "db.password", "s3cret")
	if len(id) != 25 {
		t.Errorf("id %q: got %d characters, want 25", id, len(id))
	}
	if got := storedSecret(t, s, id); string(got.Spec.Data) != "s3cret" || got.Spec.Name != "db.password" || got.Version.Index == 0 {
		t.Fatalf("stored got %+v, want db.password with its data at a raft index", got)
	}
	for _, ref := range []string{id, "db.password", "DB.PASSWORD", id[:5]} {
		got, err := a.GetSecret(t.Context(), ref)
		if err != nil {
			t.Fatalf("GetSecret(%q): %v", ref, err)
		}
		if got.ID != id || got.Spec.Data != nil {
			t.Errorf("GetSecret(%q) got ID %q data %q, want %s without data", ref, got.ID, got.Spec.Data, id)
		}
	}
	list, err := a.ListSecrets(t.Context(), noFilters())
	if err != nil || len(list) != 1 || list[0].Spec.Data != nil {
		t.Fatalf("ListSecrets got %+v, %v; want the one secret without data", list, err)
	}
	if string(storedSecret(t, s, id).Spec.Data) != "s3cret" {
		t.Fatal("reading the secret blanked the stored data")
	}
}

func TestCreateSecretRefusals(t *testing.T) {
	a, s := newAPI(t)
	mustCreateSecret(t, a, "taken", "x")
	withDriver := secretSpec("vault", "x")
	withDriver.Driver = &swarm.Driver{Name: "vault-plugin"}
	withTemplate := secretSpec("tmpl", "{{ .Nope")
	withTemplate.Templating = &swarm.Driver{Name: "golang"}
	tests := []struct {
		name string
		spec swarm.SecretSpec
		kind errdefs.Kind
		msg  string
	}{
		{"no name", secretSpec("", "x"), errdefs.KindInvalid, "rpc error: code = InvalidArgument desc = name must be provided"},
		{"bad name", secretSpec("-pw", "x"), errdefs.KindInvalid,
			"rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"},
		{"name ends with a dot", secretSpec("pw.", "x"), errdefs.KindInvalid, "invalid name"},
		{"long name", secretSpec(strings.Repeat("a", 65), "x"), errdefs.KindInvalid, "invalid name, only 64"},
		{"no data", secretSpec("pw", ""), errdefs.KindInvalid, "secret data must be larger than 0 and less than 512000 bytes"},
		{"too much data", secretSpec("pw", strings.Repeat("x", 500*1024)), errdefs.KindInvalid, "secret data must be larger than 0 and less than 512000 bytes"},
		{"driver", withDriver, errdefs.KindInvalid, `Driver: secret drivers are not supported (got "vault-plugin")`},
		{"templating", withTemplate, errdefs.KindInvalid, "Templating: the secret's data is not a valid template: template: secret tmpl:1: unclosed action"},
		{"name taken", secretSpec("taken", "y"), errdefs.KindConflict, "rpc error: code = AlreadyExists desc = secret taken already exists"},
		{"name taken in another case", secretSpec("TAKEN", "y"), errdefs.KindConflict, "secret TAKEN already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, s)
			_, err := a.CreateSecret(t.Context(), tt.spec)
			wantErr(t, err, tt.kind, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused create changed the store")
			}
		})
	}
	if _, err := a.CreateSecret(t.Context(), secretSpec(strings.Repeat("a", 64), strings.Repeat("x", 500*1024-1))); err != nil {
		t.Fatalf("64-character name and 511999 bytes: got %v, want accepted (the limits)", err)
	}
}

func TestListSecretsFilters(t *testing.T) {
	a, _ := newAPI(t)
	ids := map[string]string{}
	for _, n := range []string{"web-cert", "web-key", "db-password", "Web-Old"} {
		spec := secretSpec(n, "x")
		spec.Labels = map[string]string{"app": strings.SplitN(strings.ToLower(n), "-", 2)[0]}
		if n == "web-key" {
			spec.Labels["rotate"] = "yes"
		}
		id, err := a.CreateSecret(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	tests := []struct {
		name  string
		pairs [][2]string
		want  []string
	}{
		{"none", nil, []string{"Web-Old", "db-password", "web-cert", "web-key"}},
		{"name prefix ignores case", [][2]string{{"name", "web"}}, []string{"Web-Old", "web-cert", "web-key"}},
		{"names exact", [][2]string{{"names", "web-key"}}, []string{"web-key"}},
		{"names is not a prefix", [][2]string{{"names", "web"}}, nil},
		{"id prefix", [][2]string{{"id", ids["db-password"][:6]}}, []string{"db-password"}},
		{"name or id", [][2]string{{"names", "web-cert"}, {"id", ids["db-password"]}}, []string{"db-password", "web-cert"}},
		{"label key", [][2]string{{"label", "rotate"}}, []string{"web-key"}},
		{"label value and name", [][2]string{{"label", "app=web"}, {"name", "web-c"}}, []string{"web-cert"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.ListSecrets(t.Context(), filters.New(tt.pairs...))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range got {
				names = append(names, s.Spec.Name)
			}
			if !sameNames(names, tt.want) {
				t.Fatalf("got %v, want %v", names, tt.want)
			}
		})
	}
	_, err := a.ListSecrets(t.Context(), filters.New([2]string{"driver", "x"}))
	wantErr(t, err, errdefs.KindInvalid, "invalid filter 'driver'")
}

// sameNames compares name lists as sets: list order is by ID.
func sameNames(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, n := range got {
		seen[n] = true
	}
	for _, n := range want {
		if !seen[n] {
			return false
		}
	}
	return true
}

func TestUpdateSecret(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreateSecret(t, a, "pw", "s3cret")
	cur := storedSecret(t, s, id)

	withLabels := func(spec swarm.SecretSpec) swarm.SecretSpec {
		spec.Labels = map[string]string{"rotated": "no"}
		return spec
	}
	renamed := withLabels(secretSpec("pw2", ""))
	newData := withLabels(secretSpec("pw", "other"))
	driver := withLabels(secretSpec("pw", ""))
	driver.Driver = &swarm.Driver{Name: "vault"}
	tests := []struct {
		name    string
		ref     string
		version uint64
		spec    swarm.SecretSpec
		kind    errdefs.Kind
		msg     string
	}{
		{"stale version", id, cur.Version.Index - 1, withLabels(secretSpec("pw", "")), errdefs.KindConflict, "update out of sequence"},
		{"rename", id, cur.Version.Index, renamed, errdefs.KindInvalid, "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"},
		{"new data", id, cur.Version.Index, newData, errdefs.KindInvalid, "only updates to Labels are allowed"},
		{"driver", id, cur.Version.Index, driver, errdefs.KindInvalid, "only updates to Labels are allowed"},
		{"unknown", "nope", cur.Version.Index, withLabels(secretSpec("nope", "")), errdefs.KindNotFound, "secret nope not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, s)
			wantErr(t, a.UpdateSecret(t.Context(), tt.ref, tt.version, tt.spec), tt.kind, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused update changed the store")
			}
		})
	}

	// As inspect shows it (no data), by name: the labels change.
	if err := a.UpdateSecret(t.Context(), "pw", cur.Version.Index, withLabels(secretSpec("pw", ""))); err != nil {
		t.Fatal(err)
	}
	got := storedSecret(t, s, id)
	if got.Spec.Labels["rotated"] != "no" || string(got.Spec.Data) != "s3cret" || got.Version.Index <= cur.Version.Index {
		t.Fatalf("after update got %+v, want the label, the data kept and a newer version", got)
	}
	// As stack deploy sends it again: the same data is no change.
	again := secretSpec("pw", "s3cret")
	if err := a.UpdateSecret(t.Context(), id, got.Version.Index, again); err != nil {
		t.Fatalf("same data: got %v, want accepted", err)
	}
	if got := storedSecret(t, s, id); len(got.Spec.Labels) != 0 {
		t.Fatalf("labels got %v, want none (the spec had none)", got.Spec.Labels)
	}
}

func TestRemoveSecret(t *testing.T) {
	a, s := newAPI(t)
	pw := mustCreateSecret(t, a, "pw", "s3cret")
	key := mustCreateSecret(t, a, "key", "k")
	serviceUsing(t, s, "svc1", "web", []*swarm.SecretReference{secretRef(pw, "pw", "pw")}, nil)
	serviceUsing(t, s, "svc2", "api", []*swarm.SecretReference{secretRef(pw, "pw", "pw"), secretRef(key, "key", "key")}, nil)

	tests := []struct {
		name string
		ref  string
		kind errdefs.Kind
		msg  string
	}{
		{"used by two", "pw", errdefs.KindInvalid, "rpc error: code = InvalidArgument desc = secret 'pw' is in use by the following services: api, web"},
		{"used by one", key, errdefs.KindInvalid, "secret 'key' is in use by the following service: api"},
		{"unknown", "nope", errdefs.KindNotFound, "secret nope not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, s)
			wantErr(t, a.RemoveSecret(t.Context(), tt.ref), tt.kind, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused remove changed the store")
			}
		})
	}

	if err := a.RemoveService(t.Context(), "api"); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveSecret(t.Context(), key[:8]); err != nil {
		t.Fatalf("remove by ID prefix once unused: %v", err)
	}
	if _, err := a.GetSecret(t.Context(), key); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("GetSecret after remove: got %v, want not found", err)
	}
	wantErr(t, a.RemoveSecret(t.Context(), "pw"), errdefs.KindInvalid, "in use by the following service: web")
}
