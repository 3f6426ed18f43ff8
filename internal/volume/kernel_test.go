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
