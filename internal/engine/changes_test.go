package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	containertypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

func TestChangesOf(t *testing.T) {
	const (
		C = containertypes.ChangeModify
		A = containertypes.ChangeAdd
		D = containertypes.ChangeDelete
	)
	type ch = containertypes.FilesystemChange
	mountpoints := []string{"/etc/hostname", "/etc/hosts", "/proc", "/data/"}
	tests := []struct {
		name    string
		entries []upperEntry
		want    []ch
	}{
		{"nothing", nil, nil},
		{"added file and its parent", []upperEntry{
			{Path: "/tmp", IsDir: true, InLower: true, Touched: true},
			{Path: "/tmp/new", InLower: false},
		}, []ch{{Path: "/tmp", Kind: C}, {Path: "/tmp/new", Kind: A}}},
		{"added file's parent listed even untouched", []upperEntry{
			{Path: "/tmp", IsDir: true, InLower: true},
			{Path: "/tmp/new"},
		}, []ch{{Path: "/tmp", Kind: C}, {Path: "/tmp/new", Kind: A}}},
		{"deleted file", []upperEntry{
			{Path: "/etc", IsDir: true, InLower: true, Touched: true},
			{Path: "/etc/motd", Deleted: true, InLower: true},
		}, []ch{{Path: "/etc", Kind: C}, {Path: "/etc/motd", Kind: D}}},
		{"changed file deep down: touched ancestors listed, untouched not", []upperEntry{
			{Path: "/usr", IsDir: true, InLower: true},
			{Path: "/usr/lib", IsDir: true, InLower: true, Touched: true},
			{Path: "/usr/lib/x", IsDir: true, InLower: true, Touched: true},
			{Path: "/usr/lib/x/conf", InLower: true},
		}, []ch{{Path: "/usr/lib", Kind: C}, {Path: "/usr/lib/x", Kind: C}, {Path: "/usr/lib/x/conf", Kind: C}}},
		{"directory whose mode changed", []upperEntry{
			{Path: "/srv", IsDir: true, InLower: true, MetaChanged: true},
		}, []ch{{Path: "/srv", Kind: C}}},
		{"mountpoints made by the runtime are no change", []upperEntry{
			{Path: "/data", IsDir: true},
			{Path: "/etc", IsDir: true, InLower: true, Touched: true},
			{Path: "/etc/hostname"},
			{Path: "/etc/hosts", InLower: true},
			{Path: "/proc", IsDir: true, InLower: true, Touched: true},
		}, nil},
		{"a mountpoint beside a real change", []upperEntry{
			{Path: "/etc", IsDir: true, InLower: true, Touched: true},
			{Path: "/etc/hostname"},
			{Path: "/etc/passwd", InLower: true},
		}, []ch{{Path: "/etc", Kind: C}, {Path: "/etc/passwd", Kind: C}}},
		{"added directory tree", []upperEntry{
			{Path: "/opt", IsDir: true},
			{Path: "/opt/app", IsDir: true},
			{Path: "/opt/app/bin"},
		}, []ch{{Path: "/opt", Kind: A}, {Path: "/opt/app", Kind: A}, {Path: "/opt/app/bin", Kind: A}}},
		{"opaque directory", []upperEntry{
			{Path: "/var", IsDir: true, InLower: true, Touched: true},
			{Path: "/var/cache", IsDir: true, InLower: true, Deleted: true},
			{Path: "/var/cache/new"},
		}, []ch{{Path: "/var", Kind: C}, {Path: "/var/cache", Kind: D}, {Path: "/var/cache/new", Kind: A}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, changesOf(tt.entries, mountpoints)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWalkUpper(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	for _, d := range []string{"etc", "tmp", "lib"} {
		os.Mkdir(filepath.Join(lower, d), 0o755)
	}
	os.WriteFile(filepath.Join(lower, "etc", "motd"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(lower, "etc", "passwd"), []byte("root"), 0o644)
	// An absolute link in the layer: followed on the host it would
	// lead out of it.
	os.Symlink("/", filepath.Join(lower, "escape"))
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(lower, "etc"), old, old)

	os.Mkdir(filepath.Join(upper, "etc"), 0o700)
	os.WriteFile(filepath.Join(upper, "etc", "passwd"), []byte("root\nme"), 0o644)
	if err := unix.Mknod(filepath.Join(upper, "etc", "motd"), unix.S_IFCHR, 0); err != nil {
		t.Skipf("no whiteout without CAP_MKNOD: %v", err)
	}
	os.Mkdir(filepath.Join(upper, "escape"), 0o755)
	os.WriteFile(filepath.Join(upper, "escape", "etc"), nil, 0o644)

	got, err := walkUpper(t.Context(), containerdexec.Layers{Upper: upper, Lowers: []string{lower}})
	if err != nil {
		t.Fatal(err)
	}
	want := []upperEntry{
		// The layer's /escape is a link, not a directory: changed.
		{Path: "/escape", IsDir: true, InLower: true, MetaChanged: true, Touched: true},
		// Not the host's /etc.
		{Path: "/escape/etc"},
		{Path: "/etc", IsDir: true, InLower: true, MetaChanged: true, Touched: true},
		{Path: "/etc/motd", Deleted: true, InLower: true},
		{Path: "/etc/passwd", InLower: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}
