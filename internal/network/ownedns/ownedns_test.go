package ownedns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestCreate makes a pair of namespaces and checks what runc exec needs
// of them: the user namespace owns the network namespace (so a process
// that joined the user namespace may join the network namespace), and a
// process in them sees the mapping asked for. It then checks that Remove
// leaves nothing.
func TestCreate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("needs nsenter")
	}
	dir := t.TempDir()
	userPath, netPath := filepath.Join(dir, "userns", "c"), filepath.Join(dir, "netns", "c")
	t.Cleanup(func() {
		Remove(netPath)
		Remove(userPath)
	})
	uids := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	gids := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	if err := Create(userPath, netPath, uids, gids); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{userPath, netPath} {
		if ok, err := Mounted(p); err != nil || !ok {
			t.Fatalf("Mounted(%s) = %v, %v; want a namespace mounted there", p, ok, err)
		}
	}

	out, err := exec.Command(nsenter, "--user="+userPath, "--net="+netPath, "cat", "/proc/self/uid_map", "/proc/self/gid_map").CombinedOutput()
	if err != nil {
		t.Fatalf("join the user and network namespaces: %v\n%s", err, out)
	}
	got := strings.Join(strings.Fields(string(out)), " ")
	if want := "0 100000 65536 0 200000 65536"; got != want {
		t.Errorf("uid_map and gid_map in the user namespace: %q; want %q", got, want)
	}
	if owner, user := ownerIno(t, netPath), ino(t, userPath); owner != user {
		t.Errorf("the network namespace's owner is user namespace %d; want the one mounted, %d", owner, user)
	}

	for _, p := range []string{netPath, userPath} {
		if err := Remove(p); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after Remove: %v; want it gone", p, err)
		}
		if err := Remove(p); err != nil {
			t.Errorf("Remove of a removed namespace: %v; want nil", err)
		}
	}
}

// ownerIno is the inode of the user namespace owning the namespace at path.
func ownerIno(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		t.Fatalf("NS_GET_USERNS on %s: %v", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func ino(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
