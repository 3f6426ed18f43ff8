package apiserver

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	volumetypes "github.com/moby/moby/api/types/volume"

	"github.com/shoal-project/shoal/internal/volume"
)

// TestVolumes drives the /volumes routes over a real volume store: the
// shapes and status codes dockerd gives, and bad input refused with
// nothing created.
func TestVolumes(t *testing.T) {
	root := t.TempDir()
	vs, err := volume.Open(volume.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, serve(t, Config{Volumes: vs}))

	r := c.do("POST", "/v1.45/volumes/create", map[string]any{"Name": "data", "Labels": map[string]string{"app": "db"}})
	created := decode[volumetypes.Volume](t, r)
	if r.code != http.StatusCreated || created.Name != "data" || created.Driver != "local" || created.Scope != "local" ||
		created.Mountpoint != filepath.Join(root, "data", "_data") || created.Labels["app"] != "db" || created.CreatedAt == "" {
		t.Fatalf("create: %d %+v", r.code, created)
	}
	if got := decode[volumetypes.Volume](t, c.do("GET", "/volumes/data", nil)); got.Name != "data" || got.Labels["app"] != "db" {
		t.Errorf("inspect: %+v", got)
	}
	anon := decode[volumetypes.Volume](t, c.do("POST", "/volumes/create", map[string]any{}))
	if len(anon.Name) != 64 {
		t.Errorf("anonymous volume named %q", anon.Name)
	}
	vs.Acquire(t.Context(), "used", "c0ffee", volume.CreateOptions{})

	names := func(path string) []string {
		t.Helper()
		var out []string
		for _, v := range decode[volumetypes.ListResponse](t, c.do("GET", path, nil)).Volumes {
			out = append(out, v.Name)
		}
		return out
	}
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/volumes", []string{anon.Name, "data", "used"}},
		{`/volumes?filters={"label":{"app=db":true}}`, []string{"data"}},
		{`/volumes?filters={"name":["us"]}`, []string{"used"}},
		{`/volumes?filters={"driver":["local"],"dangling":["false"]}`, []string{"used"}},
		{`/volumes?filters={"dangling":["true"],"name":["data"]}`, []string{"data"}},
	} {
		slices.Sort(tt.want)
		if got := names(tt.path); !slices.Equal(got, tt.want) {
			t.Errorf("GET %s: got %v, want %v", tt.path, got, tt.want)
		}
	}

	for _, tt := range []struct {
		method, path string
		body         any
		code         int
		msg          string
	}{
		{"POST", "/volumes/create", map[string]any{"Name": "x"}, 400, "create x: volume name is too short"},
		{"POST", "/volumes/create", map[string]any{"Name": "../etc"}, 400, `create ../etc: "../etc" includes invalid characters for a local volume name`},
		{"POST", "/volumes/create", map[string]any{"Name": "v1", "Driver": "convoy"}, 404, `create v1: error looking up volume plugin convoy: plugin "convoy" not found`},
		{"POST", "/volumes/create", map[string]any{"Name": "v1", "DriverOpts": map[string]string{"typ": "tmpfs"}}, 400, `create v1: invalid option: "typ"`},
		{"POST", "/volumes/create", map[string]any{"Name": "v1", "DriverOpts": map[string]string{"type": "tmpfs"}}, 400, `create v1: missing required option: "device"`},
		{"POST", "/volumes/create", map[string]any{"Name": "v1", "ClusterVolumeSpec": map[string]any{}}, 400, "ClusterVolumeSpec: cluster volumes"},
		{"POST", "/volumes/create", `{"Name": 5}`, 400, "invalid JSON"},
		{"GET", "/volumes?filters={\"nope\":[\"x\"]}", nil, 400, "invalid filter 'nope'"},
		{"GET", "/volumes/nope", nil, 404, "get nope: no such volume"},
		{"DELETE", "/volumes/nope", nil, 404, "get nope: no such volume"},
		{"DELETE", "/volumes/used", nil, 409, "remove used: volume is in use - [c0ffee]"},
		{"DELETE", "/volumes/used?force=1", nil, 409, "remove used: volume is in use - [c0ffee]"},
		{"POST", "/volumes/prune?filters={\"dangling\":[\"true\"]}", nil, 400, "invalid filter 'dangling'"},
	} {
		wantError(t, c.do(tt.method, tt.path, tt.body), tt.code, tt.msg)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 3 {
		t.Errorf("refused requests left %d entries in the volume root, want the 3 volumes", len(entries))
	}

	if r := c.do("DELETE", "/volumes/nope?force=true", nil); r.code != http.StatusNoContent {
		t.Errorf("rm -f of a missing volume: %d %s, want 204", r.code, r.body)
	}
	rep := decode[volumetypes.PruneReport](t, c.do("POST", "/volumes/prune", nil))
	if len(rep.VolumesDeleted) != 1 || rep.VolumesDeleted[0] != anon.Name {
		t.Errorf("prune: %+v, want the anonymous volume only", rep)
	}
	rep = decode[volumetypes.PruneReport](t, c.do("POST", `/volumes/prune?filters={"all":["true"]}`, nil))
	if len(rep.VolumesDeleted) != 1 || rep.VolumesDeleted[0] != "data" {
		t.Errorf("prune all: %+v, want data (used is in use)", rep)
	}
	if r := c.do("DELETE", "/volumes/used", nil); r.code != http.StatusConflict {
		t.Fatalf("rm used: %d", r.code)
	}
	vs.Release(t.Context(), "used", "c0ffee")
	if r := c.do("DELETE", "/volumes/used", nil); r.code != http.StatusNoContent {
		t.Errorf("rm after release: %d %s", r.code, r.body)
	}
}
