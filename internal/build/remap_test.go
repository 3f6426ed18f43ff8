package build

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
)

func TestRemapTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to other owners")
	}
	remap := &confine.Remap{User: "dockremap", Group: "dockremap",
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}}
	root := t.TempDir()
	mk := func(name string, uid, gid int, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("bin/su", 0, 0, 0o755|os.ModeSetuid)
	mk("home/y", 5, 7, 0o640)
	if err := os.Link(filepath.Join(root, "home/y"), filepath.Join(root, "home/y2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/su", filepath.Join(root, "bin/link")); err != nil {
		t.Fatal(err)
	}
	if err := remapTree(root, remap); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]uint32{".": {100000, 200000}, "bin/su": {100000, 200000}, "bin/link": {100000, 200000}, "home/y": {100005, 200007}, "home/y2": {100005, 200007}} {
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if got := [2]uint32{st.Uid, st.Gid}; got != want {
			t.Errorf("%s is owned by %v on the host, want %v", name, got, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "bin/su")); fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("bin/su lost its setuid bit: %v", fi.Mode())
	}

	root = t.TempDir()
	mk("far", 70000, 0, 0o644)
	if err := remapTree(root, remap); err == nil || !strings.Contains(err.Error(), "/far: uid 70000 is outside the remapped range") {
		t.Errorf("remapTree of a file of uid 70000: %v, want it refused naming the file", err)
	}
}
