package containerdexec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/sys/mountinfo"
)

// TestVolumes runs containers on volumes as a node does: a named volume
// is made on first use and filled with the image's content at its target
// unless nocopy; a volume with a filesystem of its own is mounted while
// its container runs and unmounted once it exited; a mount that fails
// fails Prepare with the kernel's reason and leaves nothing behind; a
// removed container no longer holds its volumes.
func TestVolumes(t *testing.T) {
	e := newExecutor(t, "")
	vols := e.cfg.Volumes
	task := newTask("sh", "-c", `grep -c ^root: /etc/passwd; ls -A /usr | wc -l; grep -c " /scratch tmpfs " /proc/mounts`)
	tmpfs := &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}
	task.Spec.ContainerSpec.Mounts = []mount.Mount{
		// Where the image has content: /etc (files), /usr (a directory).
		{Type: mount.TypeVolume, Source: "copied", Target: "/etc"},
		{Type: mount.TypeVolume, Source: "empty", Target: "/usr", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeVolume, Source: "scratch", Target: "/scratch", VolumeOptions: &mount.VolumeOptions{DriverConfig: tmpfs}},
		{Type: mount.TypeVolume, Target: "/anonymous"},
	}

	ctl := start(t, e, task)
	if st := wait(t, ctl); st.Code != 0 {
		t.Fatalf("exit code %d; log: %s", st.Code, logText(t, e, ContainerID(task.ID)))
	}
	if got, want := logText(t, e, ContainerID(task.ID)), "1\n0\n1\n"; got != want {
		t.Errorf("in the container: got %q, want %q (image content copied, nocopy empty, tmpfs mounted)", got, want)
	}
	id := ContainerID(task.ID)
	copied := filepath.Join(vols.Root(), "copied", "_data")
	if b, err := os.ReadFile(filepath.Join(copied, "passwd")); err != nil || !strings.HasPrefix(string(b), "root:") {
		t.Errorf("copied volume's passwd: %q, %v", b, err)
	}
	if st, err := os.Stat(copied); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("copied volume's root: %v, %v; want the image's /etc mode 0755", st.Mode(), err)
	}
	if entries, _ := os.ReadDir(filepath.Join(vols.Root(), "empty", "_data")); len(entries) != 0 {
		t.Errorf("nocopy volume holds %d entries, want none", len(entries))
	}
	scratch := filepath.Join(vols.Root(), "scratch", "_data")
	if on, err := mountinfo.Mounted(scratch); err != nil || on {
		t.Errorf("tmpfs volume mounted after its container exited: %v, %v", on, err)
	}
	for _, name := range []string{"copied", "empty", "scratch"} {
		if refs := vols.References(name); len(refs) != 1 || refs[0] != id {
			t.Errorf("volume %s referenced by %v, want the exited container still", name, refs)
		}
	}
	anon := anonymousVolume(id, "/anonymous")
	if _, err := vols.Get(t.Context(), anon); err != nil {
		t.Errorf("anonymous volume: %v", err)
	}

	if err := ctl.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"copied", "empty", "scratch"} {
		if refs := vols.References(name); len(refs) != 0 {
			t.Errorf("volume %s still referenced by %v after its container was removed", name, refs)
		}
	}
	if _, err := vols.Get(t.Context(), anon); err == nil {
		t.Errorf("anonymous volume kept after its container was removed")
	}
	if _, err := vols.Get(t.Context(), "copied"); err != nil {
		t.Errorf("named volume: %v, want it kept", err)
	}
}

func TestVolumeMountFailureRejects(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("true")
	task.Spec.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "disk", Target: "/disk", VolumeOptions: &mount.VolumeOptions{
		DriverConfig: &mount.Driver{Options: map[string]string{"type": "ext4", "device": "/dev/shoal-no-such-disk"}},
	}}}
	ctl, err := e.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Remove(t.Context()) })
	err = ctl.Prepare(t.Context())
	if err == nil || !strings.Contains(err.Error(), "failed to mount local volume") || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("got %v, want the mount's error", err)
	}
	assertGone(t, e, ContainerID(task.ID))
	if refs := e.cfg.Volumes.References("disk"); len(refs) != 0 {
		t.Errorf("a container whose prepare failed still references its volume: %v", refs)
	}
}
