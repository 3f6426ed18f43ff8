package volume

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/volume"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		volume string
		opts   CreateOptions
		kind   errdefs.Kind
		err    string
	}{
		{name: "plain", volume: "data"},
		{name: "dots dashes underscores", volume: "my_app.data-1"},
		{name: "local driver by name", volume: "data", opts: CreateOptions{Driver: "local"}},
		{name: "tmpfs", volume: "data", opts: CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}}},
		{name: "bind", volume: "data", opts: CreateOptions{Options: map[string]string{"type": "none", "device": "/srv", "o": "bind"}}},
		{name: "nfs", volume: "data", opts: CreateOptions{Options: map[string]string{"type": "nfs", "device": ":/export", "o": "addr=10.0.0.1,rw"}}},
		{name: "one character", volume: "a", kind: errdefs.KindInvalid,
			err: "volume name is too short, names should be at least two alphanumeric characters"},
		{name: "a path", volume: "a/b", kind: errdefs.KindInvalid,
			err: `"a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{name: "leading dot", volume: "..", kind: errdefs.KindInvalid, err: "includes invalid characters"},
		{name: "too long", volume: strings.Repeat("v", 201), kind: errdefs.KindInvalid, err: "volume name is too long: 201 bytes, the limit is 200"},
		{name: "plugin driver", volume: "data", opts: CreateOptions{Driver: "rexray"}, kind: errdefs.KindNotFound,
			err: `error looking up volume plugin rexray: plugin "rexray" not found`},
		{name: "unknown option", volume: "data", opts: CreateOptions{Options: map[string]string{"tyep": "tmpfs"}}, kind: errdefs.KindInvalid, err: `invalid option: "tyep"`},
		{name: "type without device", volume: "data", opts: CreateOptions{Options: map[string]string{"type": "tmpfs"}}, kind: errdefs.KindInvalid, err: `missing required option: "device"`},
		{name: "o without type", volume: "data", opts: CreateOptions{Options: map[string]string{"o": "bind", "device": "/srv"}}, kind: errdefs.KindInvalid, err: `missing required option: "type"`},
		{name: "size", volume: "data", opts: CreateOptions{Options: map[string]string{"size": "10m"}}, kind: errdefs.KindInvalid, err: "quota size requested but no quota support"},
		{name: "bad size", volume: "data", opts: CreateOptions{Options: map[string]string{"size": "lots"}}, kind: errdefs.KindInvalid, err: `invalid option "size"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := validateCreate(tt.volume, tt.opts)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			if !errdefs.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v (kind %v), want kind %v with %q", err, errdefs.KindOf(err), tt.kind, tt.err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	m := meta{Name: "app-data", Driver: "local", Labels: map[string]string{"tier": "db", "backup": ""}}
	for _, tt := range []struct {
		name       string
		filters    [][2]string
		referenced bool
		want       bool
	}{
		{name: "no filters", want: true},
		{name: "dangling, not referenced", filters: [][2]string{{"dangling", "true"}}, want: true},
		{name: "dangling, referenced", filters: [][2]string{{"dangling", "1"}}, referenced: true, want: false},
		{name: "not dangling, referenced", filters: [][2]string{{"dangling", "false"}}, referenced: true, want: true},
		{name: "not dangling, not referenced", filters: [][2]string{{"dangling", "false"}}, want: false},
		{name: "driver", filters: [][2]string{{"driver", "local"}}, want: true},
		{name: "other driver", filters: [][2]string{{"driver", "nfs"}}, want: false},
		{name: "label key", filters: [][2]string{{"label", "backup"}}, want: true},
		{name: "label key=value", filters: [][2]string{{"label", "tier=db"}}, want: true},
		{name: "label wrong value", filters: [][2]string{{"label", "tier=web"}}, want: false},
		{name: "every label must match", filters: [][2]string{{"label", "tier=db"}, {"label", "nope"}}, want: false},
		{name: "name exact", filters: [][2]string{{"name", "app-data"}}, want: true},
		{name: "name part", filters: [][2]string{{"name", "data"}}, want: true},
		{name: "name regexp", filters: [][2]string{{"name", "^app-"}}, want: true},
		{name: "name not found", filters: [][2]string{{"name", "web"}}, want: false},
		{name: "any name may match", filters: [][2]string{{"name", "web"}, {"name", "app"}}, want: true},
		{name: "bad regexp matches only exactly", filters: [][2]string{{"name", "app-data("}}, want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := match(filters.New(tt.filters...), m, tt.referenced); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrunable(t *testing.T) {
	anon := meta{Name: "abc", Labels: map[string]string{AnonymousLabel: ""}}
	named := meta{Name: "data", Labels: map[string]string{"keep": "yes"}}
	tmpfs := meta{Name: "scratch", Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}}
	for _, tt := range []struct {
		name       string
		filters    [][2]string
		all        bool
		m          meta
		referenced bool
		want       bool
	}{
		{name: "anonymous", m: anon, want: true},
		{name: "anonymous in use", m: anon, referenced: true, want: false},
		{name: "named, by default", m: named, want: false},
		{name: "named, all", m: named, all: true, want: true},
		{name: "with a filesystem of its own", m: tmpfs, all: true, want: false},
		{name: "label", m: named, all: true, filters: [][2]string{{"label", "keep"}}, want: true},
		{name: "label it lacks", m: named, all: true, filters: [][2]string{{"label", "other"}}, want: false},
		{name: "label! it has", m: named, all: true, filters: [][2]string{{"label!", "keep=yes"}}, want: false},
		{name: "label! it lacks", m: named, all: true, filters: [][2]string{{"label!", "keep=no"}}, want: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := prunable(filters.New(tt.filters...), tt.all, tt.m, tt.referenced); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// fakeMounter mounts nothing and remembers what would be mounted.
type fakeMounter struct {
	on     map[string]bool
	calls  []string
	failOn string // a device whose mount fails
}

func (f *fakeMounter) mount(device, fstype, o, target string) error {
	f.calls = append(f.calls, "mount "+filepath.Base(filepath.Dir(target)))
	if device == f.failOn {
		return errors.New("no such device")
	}
	if f.on == nil {
		f.on = map[string]bool{}
	}
	f.on[target] = true
	return nil
}

func (f *fakeMounter) mounted(target string) (bool, error) { return f.on[target], nil }

func (f *fakeMounter) unmount(target string) error {
	if f.on[target] {
		f.calls = append(f.calls, "unmount "+filepath.Base(filepath.Dir(target)))
	}
	delete(f.on, target)
	return nil
}

func open(t *testing.T, root string, m mounter) *Store {
	t.Helper()
	s, err := Open(Config{Root: root, mount: m})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func names(t *testing.T, s *Store, f filters.Args) []string {
	t.Helper()
	vs, err := s.List(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestCreateGetRemove(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, &fakeMounter{})
	ctx := t.Context()
	v, err := s.Create(ctx, "data", CreateOptions{Labels: map[string]string{"app": "db"}, Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}})
	if err != nil {
		t.Fatal(err)
	}
	want := volume.Volume{
		Name: "data", Driver: "local", Mountpoint: filepath.Join(root, "data", "_data"), Scope: "local",
		Labels: map[string]string{"app": "db"}, Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
		CreatedAt: v.CreatedAt,
	}
	if d := cmp.Diff(want, v); d != "" {
		t.Errorf("created (-want +got):\n%s", d)
	}
	if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
		t.Errorf("data directory: %v", err)
	}
	// Creating it again returns it as it is, as Docker does.
	again, err := s.Create(ctx, "data", CreateOptions{Labels: map[string]string{"other": "x"}})
	if err != nil || again.Labels["app"] != "db" {
		t.Errorf("create again: got %+v, %v; want the existing volume", again, err)
	}
	if _, err := s.Get(ctx, "nope"); !errdefs.Is(err, errdefs.KindNotFound) || err.Error() != "get nope: no such volume" {
		t.Errorf("get missing: got %v", err)
	}
	if _, err := s.Create(ctx, "x/y", CreateOptions{}); !errdefs.Is(err, errdefs.KindInvalid) || !strings.HasPrefix(err.Error(), "create x/y: ") {
		t.Errorf("bad name: got %v, want Invalid, create x/y: …", err)
	}
	if _, err := os.Stat(filepath.Join(root, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused create left %v", err)
	}

	anon, err := s.Create(ctx, "", CreateOptions{})
	if err != nil || len(anon.Name) != 64 {
		t.Fatalf("anonymous: got %+v, %v", anon, err)
	}
	if _, ok := anon.Labels[AnonymousLabel]; !ok {
		t.Errorf("anonymous volume labels %v, want %s", anon.Labels, AnonymousLabel)
	}

	if err := s.Remove(ctx, "nope", false); err == nil || err.Error() != "get nope: no such volume" {
		t.Errorf("remove missing: got %v", err)
	}
	if err := s.Remove(ctx, "nope", true); err != nil {
		t.Errorf("remove -f missing: got %v, want no error", err)
	}
	if err := s.Remove(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removed volume's directory: %v", err)
	}
	if got := names(t, s, filters.Args{}); !slices.Equal(got, []string{anon.Name}) {
		t.Errorf("after remove, ls = %v", got)
	}
}

func TestInUse(t *testing.T) {
	s := open(t, t.TempDir(), &fakeMounter{})
	ctx := t.Context()
	if _, err := s.Acquire(ctx, "data", "ctr2", CreateOptions{Labels: map[string]string{"from": "mount"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "data", "ctr1", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(ctx, "data"); v.Labels["from"] != "mount" {
		t.Errorf("a volume made for a mount got labels %v", v.Labels)
	}
	for _, force := range []bool{false, true} {
		err := s.Remove(ctx, "data", force)
		if !errdefs.Is(err, errdefs.KindConflict) || err.Error() != "remove data: volume is in use - [ctr1, ctr2]" {
			t.Fatalf("remove (force %v) of a volume in use: got %v", force, err)
		}
	}
	if got := names(t, s, filters.New([2]string{"dangling", "true"})); len(got) != 0 {
		t.Errorf("dangling = %v, want none", got)
	}
	s.Release(ctx, "data", "ctr1")
	s.Release(ctx, "data", "ctr2")
	if got := names(t, s, filters.New([2]string{"dangling", "true"})); !slices.Equal(got, []string{"data"}) {
		t.Errorf("dangling = %v, want data", got)
	}
	if err := s.Remove(ctx, "data", false); err != nil {
		t.Errorf("remove after release: %v", err)
	}
}

func TestMountRefcount(t *testing.T) {
	root := t.TempDir()
	fm := &fakeMounter{}
	s := open(t, root, fm)
	ctx := t.Context()
	tmpfs := CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}}
	for _, c := range []string{"c1", "c2"} {
		if _, err := s.Acquire(ctx, "scratch", c, tmpfs); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mount(ctx, "scratch", c); err != nil {
			t.Fatal(err)
		}
	}
	// Mounting again for a container that has it is nothing new.
	if _, err := s.Mount(ctx, "scratch", "c1"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"mount scratch"}; !slices.Equal(fm.calls, want) {
		t.Errorf("after two containers mounted it: calls %v, want %v", fm.calls, want)
	}
	s.Unmount(ctx, "scratch", "c1")
	if want := []string{"mount scratch"}; !slices.Equal(fm.calls, want) {
		t.Errorf("after one of two stopped: calls %v, want still mounted", fm.calls)
	}

	// A restarted daemon knows c2 still has it mounted.
	s = open(t, root, fm)
	s.Reference("scratch", "c2")
	if err := s.Remove(ctx, "scratch", true); !errdefs.Is(err, errdefs.KindConflict) {
		t.Errorf("remove after restart while c2 references it: got %v, want Conflict", err)
	}
	s.Unmount(ctx, "scratch", "c2")
	if want := []string{"mount scratch", "unmount scratch"}; !slices.Equal(fm.calls, want) {
		t.Errorf("after the last stopped: calls %v, want %v", fm.calls, want)
	}

	// Its filesystem is gone after a reboot: the next container mounts it again.
	if _, err := s.Mount(ctx, "scratch", "c3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "scratch", "c3"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"mount scratch", "unmount scratch", "mount scratch", "unmount scratch"}; !slices.Equal(fm.calls, want) {
		t.Errorf("release of the last container that mounted it: calls %v, want %v", fm.calls, want)
	}

	// A plain volume is its directory: nothing to mount.
	if _, err := s.Acquire(ctx, "plain", "c1", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Mount(ctx, "plain", "c1"); err != nil || p != filepath.Join(root, "plain", "_data") {
		t.Errorf("mount plain: %q, %v", p, err)
	}
	if len(fm.calls) != 4 {
		t.Errorf("a plain volume was mounted: %v", fm.calls)
	}
}

func TestMountFailure(t *testing.T) {
	fm := &fakeMounter{failOn: "/dev/nope"}
	s := open(t, t.TempDir(), fm)
	ctx := t.Context()
	if _, err := s.Acquire(ctx, "disk", "c1", CreateOptions{Options: map[string]string{"type": "ext4", "device": "/dev/nope"}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Mount(ctx, "disk", "c1")
	if err == nil || !strings.Contains(err.Error(), "failed to mount local volume: no such device") {
		t.Fatalf("got %v, want the mount's error", err)
	}
	s.Release(ctx, "disk", "c1")
	if err := s.Remove(ctx, "disk", false); err != nil {
		t.Errorf("a volume whose mount failed cannot be removed: %v", err)
	}
}

func TestPersisted(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, &fakeMounter{})
	ctx := t.Context()
	v, err := s.Create(ctx, "kept", CreateOptions{Labels: map[string]string{"a": "b"}, Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}})
	if err != nil {
		t.Fatal(err)
	}
	// A volume of an older Shoal: a directory with _data and no metadata.
	if err := os.MkdirAll(filepath.Join(root, "legacy", "_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A removal cut short.
	if err := os.MkdirAll(filepath.Join(root, trashPrefix+"old", "_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = open(t, root, &fakeMounter{})
	got, err := s.Get(ctx, "kept")
	if err != nil || !cmp.Equal(got, v) {
		t.Errorf("after reopening: got %+v, %v; want %+v", got, err, v)
	}
	if got := names(t, s, filters.Args{}); !slices.Equal(got, []string{"kept", "legacy"}) {
		t.Errorf("ls after reopening = %v, want kept, legacy", got)
	}
	if _, err := os.Stat(filepath.Join(root, trashPrefix+"old")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a removal cut short was not finished: %v", err)
	}
}

func TestPrune(t *testing.T) {
	s := open(t, t.TempDir(), &fakeMounter{})
	ctx := t.Context()
	anon, _ := s.Create(ctx, "", CreateOptions{})
	os.WriteFile(filepath.Join(anon.Mountpoint, "f"), make([]byte, 10000), 0o644)
	s.Create(ctx, "named", CreateOptions{})
	s.Create(ctx, "labelled", CreateOptions{Labels: map[string]string{"keep": "1"}})
	s.Create(ctx, "scratch", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}})
	s.Acquire(ctx, "used", "c1", CreateOptions{})

	rep, err := s.Prune(ctx, filters.Args{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.VolumesDeleted, []string{anon.Name}) || rep.SpaceReclaimed < 10000 {
		t.Errorf("prune: got %+v, want only the anonymous volume and its 10000 bytes", rep)
	}
	rep, err = s.Prune(ctx, filters.New([2]string{"all", "true"}, [2]string{"label!", "keep"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.VolumesDeleted, []string{"named"}) {
		t.Errorf("prune all but label keep: got %v, want named", rep.VolumesDeleted)
	}
	if got := names(t, s, filters.Args{}); !slices.Equal(got, []string{"labelled", "scratch", "used"}) {
		t.Errorf("left: %v", got)
	}
	for _, f := range []filters.Args{filters.New([2]string{"dangling", "true"}), filters.New([2]string{"all", "maybe"})} {
		if _, err := s.Prune(ctx, f); !errdefs.Is(err, errdefs.KindInvalid) {
			t.Errorf("prune %v: got %v, want Invalid", f.Map(), err)
		}
	}
	if _, err := s.List(ctx, filters.New([2]string{"dangling", "maybe"})); err == nil || err.Error() != "invalid filter 'dangling=maybe'" {
		t.Errorf("ls dangling=maybe: got %v", err)
	}
}

func TestMountData(t *testing.T) {
	resolve := func(network, host string) (*net.IPAddr, error) {
		if host == "nas.example" {
			return &net.IPAddr{IP: net.ParseIP("10.1.2.3")}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, tt := range []struct{ fstype, o, want, err string }{
		{"tmpfs", "size=64m,mode=1777", "size=64m,mode=1777", ""},
		{"none", "bind", "bind", ""},
		{"nfs", "addr=10.0.0.1,rw,nfsvers=4", "addr=10.0.0.1,rw,nfsvers=4", ""},
		{"nfs", "addr=nas.example,rw", "addr=10.1.2.3,rw", ""},
		{"nfs4", "rw,addr=nas.example", "rw,addr=10.1.2.3", ""},
		{"cifs", "addr=fd00::1,username=u", "addr=fd00::1,username=u", ""},
		{"nfs", "addr=nowhere.example", "", "error resolving passed in network volume address: no such host"},
	} {
		got, err := mountData(tt.fstype, tt.o, resolve)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("mountData(%q, %q) = %q, %v; want %q, %q", tt.fstype, tt.o, got, err, tt.want, tt.err)
		}
	}
}
