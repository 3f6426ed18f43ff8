package runtimes

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// onPath is a lookPath that finds the executables in m.
func onPath(m map[string]string) func(string) (string, error) {
	return func(name string) (string, error) {
		if p, ok := m[name]; ok {
			return p, nil
		}
		return "", &fs.PathError{Op: "lookpath", Path: name, Err: fs.ErrNotExist}
	}
}

func TestNewDefaults(t *testing.T) {
	s, err := New("", nil, onPath(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Default() != Runc {
		t.Errorf("default %q, want runc", s.Default())
	}
	info := s.Info()
	if len(info) != 2 || info[Runc].Path != "runc" || info[Shim].Path != "runc" {
		t.Errorf("runtimes %+v, want runc and %s, both at runc", info, Shim)
	}
	if _, err := s.Resolve(Crun); errdefs.KindOf(err) != errdefs.KindInvalid {
		t.Errorf("crun without crun on PATH: err %v, want invalid", err)
	}
}

func TestNewCrunOnPath(t *testing.T) {
	s, err := New(Crun, nil, onPath(map[string]string{"crun": "/usr/bin/crun"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Default() != Crun {
		t.Errorf("default %q, want crun", s.Default())
	}
	if got := s.Info()[Crun].Path; got != "/usr/bin/crun" {
		t.Errorf("crun shown at %q, want /usr/bin/crun", got)
	}
}

func TestNewAdded(t *testing.T) {
	path := onPath(map[string]string{"crun": "/usr/bin/crun", "my-crun": "/opt/bin/my-crun", "/opt/runsc": "/opt/runsc"})
	s, err := New("", []string{"crun=my-crun", "gv=/opt/runsc"}, path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve(Crun)
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "my-crun" || r.Binary != "/opt/bin/my-crun" {
		t.Errorf("crun replaced by --add-runtime: %+v, want shown as my-crun, run as /opt/bin/my-crun", r)
	}
	if r, err := s.Resolve("gv"); err != nil || r.Binary != "/opt/runsc" {
		t.Errorf("gv: %+v, %v", r, err)
	}
}

func TestNewRefuses(t *testing.T) {
	path := onPath(map[string]string{"/usr/bin/crun": "/usr/bin/crun"})
	for _, tc := range []struct {
		def   string
		added []string
		want  string
	}{
		{"", []string{"crun"}, `--add-runtime "crun": want NAME=PATH`},
		{"", []string{"=/usr/bin/crun"}, "want NAME=PATH"},
		{"", []string{"c="}, "want NAME=PATH"},
		{"", []string{"runc=/usr/bin/crun"}, `runtime name "runc" is reserved`},
		{"", []string{Shim + "=/usr/bin/crun"}, "is reserved"},
		{"", []string{"c=/usr/bin/crun", "c=/usr/bin/crun"}, `runtime "c" is given twice`},
		{"", []string{"c=/nowhere/crun"}, `--add-runtime "c=/nowhere/crun": lookpath /nowhere/crun`},
		{"crun", nil, `--default-runtime "crun": no such runtime: "io.containerd.runc.v2", "runc"`},
	} {
		_, err := New(tc.def, tc.added, path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q): err %v, want it to say %q", tc.def, tc.added, err, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	s, err := New(Crun, nil, onPath(map[string]string{"crun": "/usr/bin/crun"}))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"": "/usr/bin/crun", Crun: "/usr/bin/crun", Runc: "", Shim: ""} {
		r, err := s.Resolve(name)
		if err != nil {
			t.Errorf("Resolve(%q): %v", name, err)
			continue
		}
		if r.Binary != want {
			t.Errorf("Resolve(%q) runs %q, want %q", name, r.Binary, want)
		}
	}
	_, err = s.Resolve("kata")
	if errdefs.KindOf(err) != errdefs.KindInvalid || !strings.HasPrefix(err.Error(), `HostConfig.Runtime: unknown runtime specified "kata"`) {
		t.Errorf("unknown runtime: err %v, want invalid naming HostConfig.Runtime", err)
	}
}

func TestShimOptions(t *testing.T) {
	if o := ShimOptions(Runtime{Name: Runc, Path: Runc}); o != nil {
		t.Errorf("runc gets options %+v, want none (containerd's defaults)", o)
	}
	o := ShimOptions(Runtime{Name: Crun, Path: "/usr/bin/crun", Binary: "/usr/bin/crun"})
	if o == nil || o.BinaryName != "/usr/bin/crun" {
		t.Errorf("crun gets options %+v, want BinaryName /usr/bin/crun", o)
	}
}

func TestLookPathErrorKept(t *testing.T) {
	_, err := New("", []string{"c=/nowhere"}, onPath(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v, want it to wrap the look-up's error", err)
	}
}
