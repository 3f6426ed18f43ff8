package containerdexec

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
)

var testRemap = &confine.Remap{User: "dockremap", Group: "dockremap",
	UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
	GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}},
}

func owner(t *testing.T, path string) [3]int {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return [3]int{int(st.Uid), int(st.Gid), int(info.Mode().Perm())}
}

// TestOwnContainerDir checks that under a remapping the container's root
// can reach its directory (group, not others) and write its files.
func TestOwnContainerDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o710); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"hosts": nil, "hostname": nil}
	for f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := ownContainerDir(dir, files, nil); err != nil || owner(t, dir) != [3]int{0, 0, 0o710} {
		t.Fatalf("without a remapping: %v, dir %v; want it left root's", err, owner(t, dir))
	}
	if err := ownContainerDir(dir, files, testRemap); err != nil {
		t.Fatal(err)
	}
	if got := owner(t, dir); got != [3]int{0, 200000, 0o710} {
		t.Errorf("container directory: owner, group, mode %v; want root, the remapped root's group, 0710", got)
	}
	for f := range files {
		if got := owner(t, filepath.Join(dir, f)); got != [3]int{100000, 200000, 0o644} {
			t.Errorf("%s: owner, group, mode %v; want the remapped root's, 0644", f, got)
		}
	}
}

// TestMountFilesRemapped checks that a remapped container's secrets are
// on a tmpfs its root owns, each file owned by the host IDs of the owner
// its reference asks for.
func TestMountFilesRemapped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	files := []containerFile{
		{name: "secret-0", target: "/run/secrets/a", mode: 0o400, data: []byte("a")},
		{name: "secret-1", target: "/run/secrets/b", uid: 1000, gid: 33, mode: 0o440, data: []byte("b")},
	}
	if err := mountFiles(dir, files, testRemap); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountFiles(dir) })
	for path, want := range map[string][3]int{
		dir:                            {100000, 200000, 0o700},
		filepath.Join(dir, "secret-0"): {100000, 200000, 0o400},
		filepath.Join(dir, "secret-1"): {101000, 200033, 0o440},
	} {
		if got := owner(t, path); got != want {
			t.Errorf("%s: owner, group, mode %v; want %v", path, got, want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := mountFiles(bad, []containerFile{{name: "s", target: "/s", uid: 70000, mode: 0o400}}, testRemap); err == nil {
		unmountFiles(bad)
		t.Error("an owner outside the remapped range: no error")
	}
}

// TestSpecOptsRemapped checks that what dockerd refuses under a
// remapping is refused before anything is made, and allowed with
// --userns=host.
func TestSpecOptsRemapped(t *testing.T) {
	for _, host := range []container.HostConfig{{Privileged: true}, {NetworkMode: "host"}, {PidMode: "host"}} {
		rec := &record{Config: container.Config{Cmd: []string{"sh"}}, HostConfig: host}
		if _, err := specOpts(rec, "/dir", nil, "", testRemap); !errdefs.Is(err, errdefs.KindInvalid) {
			t.Errorf("%+v under a remapping: got %v, want Invalid", host, err)
		}
		rec.HostConfig.UsernsMode = "host"
		if _, err := specOpts(rec, "/dir", nil, "", testRemap); err != nil {
			t.Errorf("%+v with --userns=host: got %v, want it allowed", host, err)
		}
	}
}
