package sysinfo

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestFilesystemName(t *testing.T) {
	tests := []struct {
		magic int64
		want  string
	}{
		{unix.EXT4_SUPER_MAGIC, "extfs"},
		{unix.XFS_SUPER_MAGIC, "xfs"},
		{unix.BTRFS_SUPER_MAGIC, "btrfs"},
		{unix.TMPFS_MAGIC, "tmpfs"},
		{unix.OVERLAYFS_SUPER_MAGIC, "overlayfs"},
		{0x2fc12fc1, "zfs"},
		{unix.PROC_SUPER_MAGIC, "<unknown>"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FilesystemName(tt.magic); got != tt.want {
				t.Errorf("FilesystemName(%#x): got %q, want %q", tt.magic, got, tt.want)
			}
		})
	}
}

// dirents encodes entries as getdents64 returns them.
func dirents(entries ...struct {
	name string
	typ  uint8
}) []byte {
	var buf []byte
	for _, e := range entries {
		reclen := (19 + len(e.name) + 1 + 7) &^ 7
		rec := make([]byte, reclen)
		binary.NativeEndian.PutUint64(rec[0:], 42)
		binary.NativeEndian.PutUint16(rec[16:], uint16(reclen))
		rec[18] = e.typ
		copy(rec[19:], e.name)
		buf = append(buf, rec...)
	}
	return buf
}

type entry = struct {
	name string
	typ  uint8
}

func TestEntryTypeKnown(t *testing.T) {
	dots := []entry{{".", unix.DT_DIR}, {"..", unix.DT_DIR}}
	tests := []struct {
		name      string
		buf       []byte
		known, ok bool
	}{
		{"typed file", dirents(append(dots, entry{"metadata.db", unix.DT_REG})...), true, true},
		{"typed directory first", dirents(append(dots, entry{"snapshots", unix.DT_DIR}, entry{"x", unix.DT_UNKNOWN})...), true, true},
		{"untyped entry", dirents(append(dots, entry{"snapshots", unix.DT_UNKNOWN})...), false, true},
		{"only dots", dirents(dots...), false, false},
		{"empty", nil, false, false},
		{"truncated record", dirents(entry{"metadata.db", unix.DT_REG})[:20], false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known, ok := entryTypeKnown(tt.buf)
			if known != tt.known || ok != tt.ok {
				t.Errorf("got known %v ok %v, want known %v ok %v", known, ok, tt.known, tt.ok)
			}
		})
	}
}

func TestDriverWarnings(t *testing.T) {
	tests := []struct {
		name   string
		status [][2]string
		want   []string
	}{
		{"d_type", [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}, nil},
		{"no d_type row", [][2]string{{"Backing Filesystem", "extfs"}}, nil},
		{"no d_type on extfs", [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "false"}}, []string{
			"WARNING: overlayfs: the backing extfs filesystem is formatted without d_type support, which leads to incorrect behavior.\n" +
				"         Running without d_type support will not be supported in future releases.",
		}},
		{"no d_type on xfs", [][2]string{{"Backing Filesystem", "xfs"}, {"Supports d_type", "false"}}, []string{
			"WARNING: overlayfs: the backing xfs filesystem is formatted without d_type support, which leads to incorrect behavior.\n" +
				"         Reformat the filesystem with ftype=1 to enable d_type support.\n" +
				"         Running without d_type support will not be supported in future releases.",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, DriverWarnings("overlayfs", tt.status)); diff != "" {
				t.Errorf("DriverWarnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDriverStatus reads a real directory: its filesystem, whatever it is,
// is named, and the d_type row is there for overlayfs only.
func TestDriverStatus(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "snapshots"), 0o700); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	fs := FilesystemName(int64(st.Type))
	tests := []struct {
		snapshotter string
		want        [][2]string
	}{
		{"overlayfs", [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}, {"Backing Filesystem", fs}, {"Supports d_type", "true"}}},
		{"native", [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}, {"Backing Filesystem", fs}}},
	}
	for _, tt := range tests {
		t.Run(tt.snapshotter, func(t *testing.T) {
			got, err := DriverStatus(tt.snapshotter, root)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DriverStatus (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing root", func(t *testing.T) {
		got, err := DriverStatus("overlayfs", filepath.Join(root, "nope"))
		if err == nil {
			t.Fatalf("got no error for a missing root, status %v", got)
		}
		if want := [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}; !cmp.Equal(got, want) {
			t.Errorf("got status %v, want %v", got, want)
		}
	})
	t.Run("empty root", func(t *testing.T) {
		if _, err := SupportsDType(t.TempDir()); err == nil {
			t.Error("got no error for a directory with nothing to tell by")
		}
	})
}
