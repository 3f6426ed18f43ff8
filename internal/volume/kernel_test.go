package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKernelMounts mounts volumes with the kernel, as a node does: a tmpfs
// and a bind of a host directory, on the volume's data directory while a
// container uses it, and off it after.
func TestKernelMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	root := t.TempDir()
	s := open(t, root, nil)
	ctx := t.Context()
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "from-host"), []byte("hi"), 0o644)
	for _, tt := range []struct {
		name string
		opts map[string]string
		fs   string
	}{
		{"scratch", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0700"}, "tmpfs"},
		{"hostdir", map[string]string{"type": "none", "device": host, "o": "bind"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Acquire(ctx, tt.name, "c1", CreateOptions{Options: tt.opts}); err != nil {
				t.Fatal(err)
			}
			path, err := s.Mount(ctx, tt.name, "c1")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(path, unix.MNT_DETACH) })
			if on, err := (kernelMounter{}).mounted(path); err != nil || !on {
				t.Fatalf("mounted at %s: %v, %v; want mounted", path, on, err)
			}
			if tt.fs != "" {
				var st unix.Statfs_t
				if err := unix.Statfs(path, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
					t.Errorf("filesystem at %s: type %x, %v; want tmpfs", path, st.Type, err)
				}
			} else if _, err := os.Stat(filepath.Join(path, "from-host")); err != nil {
				t.Errorf("the host directory is not seen through the volume: %v", err)
			}
			if err := s.Release(ctx, tt.name, "c1"); err != nil {
				t.Fatal(err)
			}
			if on, _ := (kernelMounter{}).mounted(path); on {
				t.Errorf("still mounted after the last container released it")
			}
			if err := s.Remove(ctx, tt.name, false); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(host, "from-host")); err != nil {
		t.Errorf("removing a bind volume touched the host directory: %v", err)
	}

	t.Run("a mount that fails says why", func(t *testing.T) {
		s.Acquire(ctx, "disk", "c1", CreateOptions{Options: map[string]string{"type": "ext4", "device": "/dev/shoal-no-such-disk"}})
		_, err := s.Mount(ctx, "disk", "c1")
		if err == nil || !strings.Contains(err.Error(), "failed to mount local volume") || !strings.Contains(err.Error(), "no such file or directory") {
			t.Fatalf("got %v, want the kernel's reason", err)
		}
	})
}

func TestPopulate(t *testing.T) {
	s := open(t, t.TempDir(), &fakeMounter{})
	ctx := t.Context()
	src := t.TempDir()
	os.Chmod(src, 0o750)
	os.MkdirAll(filepath.Join(src, "sub"), 0o700)
	os.WriteFile(filepath.Join(src, "sub", "f"), []byte("image content"), 0o640)
	os.Symlink("sub/f", filepath.Join(src, "link"))

	v, _ := s.Create(ctx, "filled", CreateOptions{})
	if err := s.Populate(ctx, "filled", src); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(v.Mountpoint, "link")); err != nil || string(b) != "image content" {
		t.Errorf("copied file through its link: %q, %v", b, err)
	}
	for p, want := range map[string]os.FileMode{"": 0o750 | os.ModeDir, "sub": 0o700 | os.ModeDir, "sub/f": 0o640} {
		if st, err := os.Stat(filepath.Join(v.Mountpoint, p)); err != nil || st.Mode() != want {
			t.Errorf("mode of %q: %v, %v; want %v", p, st.Mode(), err, want)
		}
	}

	// A volume with content is left alone.
	v2, _ := s.Create(ctx, "used", CreateOptions{})
	os.WriteFile(filepath.Join(v2.Mountpoint, "mine"), []byte("x"), 0o644)
	if err := s.Populate(ctx, "used", src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v2.Mountpoint, "sub")); !os.IsNotExist(err) {
		t.Errorf("a volume with content was filled: %v", err)
	}
	// What the image lacks is nothing to copy.
	if err := s.Populate(ctx, "filled", filepath.Join(src, "nope")); err != nil {
		t.Errorf("populate from a path the image lacks: %v", err)
	}
}

// shiftMap is an IDMap that adds 100000 to every uid and 200000 to
// every gid.
type shiftMap struct{}

func (shiftMap) ToHost(uid, gid int) (int, int, error) { return uid + 100000, gid + 200000, nil }

// TestRemappedOwners checks that under a user-namespace remapping a new
// volume is the remapped root's, and what is copied into it from the
// image is owned by the host IDs of its owners, with its set-ID bits.
func TestRemappedOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	s, err := Open(Config{Root: t.TempDir(), mount: &fakeMounter{}, IDMap: shiftMap{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	os.Chown(filepath.Join(src, "f"), 1000, 33)
	os.WriteFile(filepath.Join(src, "suid"), []byte("x"), 0o755)
	os.Chmod(filepath.Join(src, "suid"), os.ModeSetuid|0o755)
	os.Symlink("f", filepath.Join(src, "link"))

	v, err := s.Create(ctx, "remapped", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ownerOf(t, v.Mountpoint); got != [2]uint32{100000, 200000} {
		t.Errorf("new volume: owner %v, want the remapped root 100000:200000", got)
	}
	if err := s.Populate(ctx, "remapped", src); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][2]uint32{"": {100000, 200000}, "f": {101000, 200033}, "suid": {100000, 200000}, "link": {100000, 200000}} {
		if got := ownerOf(t, filepath.Join(v.Mountpoint, p)); got != want {
			t.Errorf("%q: owner %v, want %v", p, got, want)
		}
	}
	if st, err := os.Stat(filepath.Join(v.Mountpoint, "suid")); err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("suid: mode %v, %v; want the set-user-ID bit kept", st.Mode(), err)
	}
}

func ownerOf(t *testing.T, path string) [2]uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return [2]uint32{st.Uid, st.Gid}
}
