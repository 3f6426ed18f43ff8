package container

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	web := &Container{ID: "id1", Name: "web", Created: time.Unix(1, 0).UTC(),
		Config:     containertypes.Config{Image: "nginx", Labels: map[string]string{"a": "b"}},
		HostConfig: containertypes.HostConfig{RestartPolicy: containertypes.RestartPolicy{Name: "always"}},
		Ports:      []Binding{{Port: tcp80, HostPort: 8080}},
	}
	if err := s.Add(web); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(&Container{ID: "id2", Name: "db", Created: time.Unix(2, 0).UTC()}); err != nil {
		t.Fatal(err)
	}

	err = s.Add(&Container{ID: "id3", Name: "web"})
	want := `Conflict. The container name "/web" is already in use by container "id1". You have to remove (or rename) that container to be able to reuse that name.`
	if err == nil || err.Error() != want || !errdefs.Is(err, errdefs.KindConflict) {
		t.Fatalf("Add of a taken name: %v, want conflict %q", err, want)
	}
	if _, ok := s.Get("id3"); ok {
		t.Fatal("a refused Add stored the container")
	}

	got, _ := s.Get("id1")
	got.Config.Labels["a"] = "changed"
	if again, _ := s.Get("id1"); again.Config.Labels["a"] != "b" {
		t.Fatal("Get returned the stored object, not a copy")
	}

	if _, err := s.Update("id2", func(c *Container) error { c.Name = "web"; return nil }); err == nil || !strings.Contains(err.Error(), `"/web" is already in use`) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	if _, err := s.Update("id2", func(c *Container) error { c.Name = "db2"; c.RestartCount = 4; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.NameHolder("db"); ok {
		t.Fatal("the old name is still held after a rename")
	}
	if _, err := s.Update("nope", func(*Container) error { return nil }); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("Update of a missing container: %v", err)
	}

	// A new store over the same directory has the same containers.
	s2, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	all := s2.All()
	if len(all) != 2 || all[0].ID != "id1" || all[1].Name != "db2" || all[1].RestartCount != 4 {
		t.Fatalf("reopened store has %+v", all)
	}
	if all[0].Ports[0].Port != network.MustParsePort("80/tcp") || all[0].HostConfig.RestartPolicy.Name != "always" {
		t.Fatalf("reopened container lost fields: %+v", all[0])
	}
	if id, ok := s2.NameHolder("web"); !ok || id != "id1" {
		t.Fatalf("reopened store: web held by %q %v", id, ok)
	}

	if err := s2.Delete("id1"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete("id1"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "id1.json")); !os.IsNotExist(err) {
		t.Fatalf("file of a deleted container: %v", err)
	}
	if err := s2.Add(&Container{ID: "id4", Name: "web"}); err != nil {
		t.Fatalf("the name of a deleted container is not free: %v", err)
	}
}

// A damaged file is left out and logged; the store opens with the rest.
func TestOpenLeavesOutFilesItCannotLoad(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "abc.json"), []byte(`{"ID":"xyz"}`), 0o600)
	os.WriteFile(filepath.Join(dir, "empty.json"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "cut.json"), []byte(`{"ID":"cut","Na`), 0o600)
	os.WriteFile(filepath.Join(dir, "good.json"), []byte(`{"ID":"good","Name":"web"}`), 0o600)
	var logged bytes.Buffer
	s, err := Open(dir, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := s.All(); len(got) != 1 || got[0].ID != "good" {
		t.Fatalf("loaded %v, want only the good container", got)
	}
	for _, want := range []string{`holds container \"xyz\"`, "decode container empty", "decode container cut"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logged.String())
		}
	}
}

// An Update that changes nothing writes nothing: each write is a new file
// renamed over the old, and a start (which clears what is clear already)
// would write one for every container started.
func TestUpdateWritesOnlyAChange(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(&Container{ID: "id1", Name: "web", Created: time.Unix(1, 0).UTC(),
		Config: containertypes.Config{Labels: map[string]string{"a": "b"}, Env: []string{}}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "id1.json")
	ino := func() uint64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	first := ino()
	got, err := s.Update("id1", func(c *Container) error { c.ManuallyStopped, c.RestartCount = false, 0; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if ino() != first {
		t.Error("an Update that changed nothing rewrote the file")
	}
	got.Config.Labels["a"] = "changed"
	if again, _ := s.Get("id1"); again.Config.Labels["a"] != "b" {
		t.Fatal("Update returned the stored object, not a copy")
	}
	before := ino()
	if _, err := s.Update("id1", func(c *Container) error { c.RestartCount = 1; return nil }); err != nil {
		t.Fatal(err)
	}
	if ino() == before {
		t.Error("an Update that changed the container did not write it")
	}
	s2, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s2.Get("id1"); c.RestartCount != 1 {
		t.Errorf("reopened: restart count %d, want 1", c.RestartCount)
	}
}
