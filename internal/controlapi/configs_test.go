package controlapi

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/store"
)

func configSpec(name, data string) swarm.ConfigSpec {
	return swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}, Data: []byte(data)}
}

func mustCreateConfig(t *testing.T, a *API, name, data string) string {
	t.Helper()
	id, err := a.CreateConfig(t.Context(), configSpec(name, data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func storedConfig(t *testing.T, s *store.Store, id string) *store.Config {
	t.Helper()
	var cfg *store.Config
	s.View(func(tx store.ReadTx) { cfg = store.Get[*store.Config](tx, id) })
	if cfg == nil {
		t.Fatalf("config %s not in the store", id)
	}
	return cfg
}

func TestCreateConfigReturnsData(t *testing.T) {
	a, _ := newAPI(t)
	id := mustCreateConfig(t, a, "nginx.conf", "worker_processes 1;")
	for _, ref := range []string{id, "nginx.conf", id[:4]} {
		got, err := a.GetConfig(t.Context(), ref)
		if err != nil || got.ID != id || string(got.Spec.Data) != "worker_processes 1;" {
			t.Fatalf("GetConfig(%q) got %+v, %v; want %s with its data", ref, got, err, id)
		}
	}
	list, err := a.ListConfigs(t.Context(), filters.New([2]string{"names", "nginx.conf"}))
	if err != nil || len(list) != 1 || string(list[0].Spec.Data) != "worker_processes 1;" {
		t.Fatalf("ListConfigs got %+v, %v; want the config with its data", list, err)
	}
	list, err = a.ListConfigs(t.Context(), filters.New([2]string{"name", "other"}))
	if err != nil || len(list) != 0 {
		t.Fatalf("ListConfigs name=other got %+v, %v; want none", list, err)
	}
}

func TestCreateConfigRefusals(t *testing.T) {
	a, s := newAPI(t)
	mustCreateConfig(t, a, "taken", "x")
	templated := func(driver, data string) swarm.ConfigSpec {
		spec := configSpec("tmpl", data)
		spec.Templating = &swarm.Driver{Name: driver}
		return spec
	}
	tests := []struct {
		name string
		spec swarm.ConfigSpec
		kind errdefs.Kind
		msg  string
	}{
		{"no name", configSpec("", "x"), errdefs.KindInvalid, "name must be provided"},
		{"bad name", configSpec("a b", "x"), errdefs.KindInvalid, "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed"},
		{"no data", configSpec("c", ""), errdefs.KindInvalid, "rpc error: code = InvalidArgument desc = config data must be larger than 0 and less than 1024000 bytes"},
		{"too much data", configSpec("c", strings.Repeat("x", 1000*1024)), errdefs.KindInvalid, "config data must be larger than 0"},
		{"template driver", templated("mustache", "x"), errdefs.KindInvalid, `Templating: unknown template driver "mustache": only "golang" is supported`},
		{"template that does not parse", templated("golang", `{{secret "pw"`), errdefs.KindInvalid,
			"Templating: the config's data is not a valid template: template: config tmpl:1: unclosed action"},
		{"template function unknown", templated("golang", `{{ secrets "pw" }}`), errdefs.KindInvalid, `function "secrets" not defined`},
		{"name taken", configSpec("Taken", "y"), errdefs.KindConflict, "rpc error: code = AlreadyExists desc = config Taken already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, s)
			_, err := a.CreateConfig(t.Context(), tt.spec)
			wantErr(t, err, tt.kind, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused create changed the store")
			}
		})
	}
}

func TestCreateTemplatedConfig(t *testing.T) {
	a, s := newAPI(t)
	spec := configSpec("tmpl", `{{.Service.Name}} {{ secret "pw" }} {{ config "c" }} {{ env "X" }}`)
	spec.Templating = &swarm.Driver{Name: "golang"}
	id, err := a.CreateConfig(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := storedConfig(t, s, id); got.Spec.Templating == nil || got.Spec.Templating.Name != "golang" || string(got.Spec.Data) != string(spec.Data) {
		t.Fatalf("stored %+v, want the template and its driver as given", got.Spec)
	}
}

func TestUpdateConfig(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreateConfig(t, a, "app", "x=1")
	cur := storedConfig(t, s, id)
	labelled := func(name, data string) swarm.ConfigSpec {
		spec := configSpec(name, data)
		spec.Labels = map[string]string{"env": "prod"}
		return spec
	}
	tests := []struct {
		name    string
		version uint64
		spec    swarm.ConfigSpec
		kind    errdefs.Kind
		msg     string
	}{
		{"stale version", cur.Version.Index + 1, labelled("app", "x=1"), errdefs.KindConflict, "update out of sequence"},
		{"new data", cur.Version.Index, labelled("app", "x=2"), errdefs.KindInvalid, "only updates to Labels are allowed"},
		{"rename", cur.Version.Index, labelled("app2", ""), errdefs.KindInvalid, "only updates to Labels are allowed"},
		{"templating added", cur.Version.Index, func() swarm.ConfigSpec {
			spec := labelled("app", "x=1")
			spec.Templating = &swarm.Driver{Name: "golang"}
			return spec
		}(), errdefs.KindInvalid, "only updates to Labels are allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, s)
			wantErr(t, a.UpdateConfig(t.Context(), id, tt.version, tt.spec), tt.kind, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused update changed the store")
			}
		})
	}
	if err := a.UpdateConfig(t.Context(), "app", cur.Version.Index, labelled("app", "x=1")); err != nil {
		t.Fatal(err)
	}
	if got := storedConfig(t, s, id); got.Spec.Labels["env"] != "prod" || string(got.Spec.Data) != "x=1" {
		t.Fatalf("after update got %+v, want the label and the data kept", got.Spec)
	}
}

// TestUpdateTemplatedConfig updates the labels of a templated config with
// the spec read back whole, templating included, as SDKs do.
func TestUpdateTemplatedConfig(t *testing.T) {
	a, s := newAPI(t)
	spec := configSpec("tmpl", "{{.Service.Name}}")
	spec.Templating = &swarm.Driver{Name: "golang"}
	id, err := a.CreateConfig(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	cur := storedConfig(t, s, id)
	next := cur.Spec
	next.Labels = map[string]string{"v": "2"}
	if err := a.UpdateConfig(t.Context(), id, cur.Version.Index, next); err != nil {
		t.Fatalf("label update carrying the same templating: %v", err)
	}
	if got := storedConfig(t, s, id); got.Spec.Labels["v"] != "2" || got.Spec.Templating == nil {
		t.Fatalf("after update got %+v", got.Spec)
	}
}

func TestRemoveConfig(t *testing.T) {
	a, s := newAPI(t)
	app := mustCreateConfig(t, a, "app", "x=1")
	serviceUsing(t, s, "svc1", "web", nil, []*swarm.ConfigReference{configRef(app, "app", "/etc/app")})
	before := snapshot(t, s)
	wantErr(t, a.RemoveConfig(t.Context(), "app"), errdefs.KindInvalid, "rpc error: code = InvalidArgument desc = config 'app' is in use by the following service: web")
	wantErr(t, a.RemoveConfig(t.Context(), "nope"), errdefs.KindNotFound, "config nope not found")
	if snapshot(t, s) != before {
		t.Fatal("a refused remove changed the store")
	}
	if err := a.RemoveService(t.Context(), "web"); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveConfig(t.Context(), app); err != nil {
		t.Fatalf("remove once unused: %v", err)
	}
	if list, _ := a.ListConfigs(t.Context(), noFilters()); len(list) != 0 {
		t.Fatalf("after remove got %+v, want no configs", list)
	}
}
