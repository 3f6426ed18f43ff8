package confine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestParseRemapSpec(t *testing.T) {
	tests := []struct {
		value string
		want  RemapSpec
		bad   bool
	}{
		{value: "default", want: RemapSpec{User: "dockremap", Group: "dockremap", Default: true}},
		{value: "alice", want: RemapSpec{User: "alice"}},
		{value: "alice:staff", want: RemapSpec{User: "alice", Group: "staff"}},
		{value: "1000:1000", want: RemapSpec{User: "1000", Group: "1000"}},
		{value: "", bad: true},
		{value: ":staff", bad: true},
		{value: "alice:", bad: true},
		{value: "a:b:c", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseRemapSpec(tt.value)
			if tt.bad {
				if err == nil || !strings.Contains(err.Error(), "--userns-remap") {
					t.Fatalf("got %+v, %v; want an error naming --userns-remap", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSubIDs(t *testing.T) {
	data := []byte(`# made by hand
alice:200000:65536
dockremap:100000:65536

1001:300000:1000
dockremap:500000:10
`)
	all, err := ParseSubIDs(data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		who  string
		id   int
		want []specs.LinuxIDMapping
	}{
		{name: "by name, ranges end to end lowest first", who: "dockremap", id: 999, want: []specs.LinuxIDMapping{
			{ContainerID: 0, HostID: 100000, Size: 65536},
			{ContainerID: 65536, HostID: 500000, Size: 10},
		}},
		{name: "by number", who: "bob", id: 1001, want: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 1000}}},
		{name: "none", who: "carol", id: 1002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, IDMappings(RangesOf(all, tt.who, tt.id))); diff != "" {
				t.Errorf("mappings (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"alice:1", "alice:x:10", "alice:10:0", "alice:4294967290:10", ":1:1"} {
		if _, err := ParseSubIDs([]byte(bad)); err == nil {
			t.Errorf("ParseSubIDs(%q): no error; want one", bad)
		}
	}
}

func TestNextSubIDStart(t *testing.T) {
	tests := []struct {
		name  string
		taken []SubIDRange
		want  uint32
	}{
		{name: "empty file", want: 100000},
		{name: "below the start", taken: []SubIDRange{{Start: 1000, Count: 1000}}, want: 100000},
		{name: "at the start", taken: []SubIDRange{{Start: 100000, Count: 65536}}, want: 165536},
		{name: "chained, out of order", taken: []SubIDRange{{Start: 165536, Count: 65536}, {Start: 100000, Count: 65536}}, want: 231072},
		{name: "overlapping the end of the new range", taken: []SubIDRange{{Start: 150000, Count: 10}}, want: 150010},
		{name: "far above leaves the gap", taken: []SubIDRange{{Start: 1000000, Count: 65536}}, want: 100000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextSubIDStart(tt.taken); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRemap(t *testing.T) {
	r := &Remap{User: "dockremap", Group: "dockremap",
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 1000, HostID: 500000, Size: 10}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}},
	}
	if uid, gid := r.Root(); uid != 100000 || gid != 200000 {
		t.Errorf("Root: got %d:%d, want 100000:200000", uid, gid)
	}
	for _, tt := range []struct{ uid, gid, hu, hg int }{{0, 0, 100000, 200000}, {999, 5, 100999, 200005}, {1003, 65535, 500003, 265535}} {
		if hu, hg, err := r.ToHost(tt.uid, tt.gid); err != nil || hu != tt.hu || hg != tt.hg {
			t.Errorf("ToHost(%d, %d): got %d, %d, %v; want %d, %d", tt.uid, tt.gid, hu, hg, err, tt.hu, tt.hg)
		}
	}
	if _, _, err := r.ToHost(1010, 0); err == nil {
		t.Error("ToHost of a uid outside the ranges: no error")
	}

	tests := []struct {
		name     string
		remap    *Remap
		host     container.HostConfig
		remapped bool
		err      string
	}{
		{name: "no remapping", host: container.HostConfig{Privileged: true, NetworkMode: "host"}},
		{name: "remapped", remap: r, remapped: true},
		{name: "userns host opts out", remap: r, host: container.HostConfig{UsernsMode: "host", Privileged: true, NetworkMode: "host", PidMode: "host"}},
		{name: "privileged", remap: r, host: container.HostConfig{Privileged: true}, remapped: true, err: "privileged mode is incompatible with user namespaces"},
		{name: "host network", remap: r, host: container.HostConfig{NetworkMode: "host"}, remapped: true, err: "host's network namespace"},
		{name: "host pid", remap: r, host: container.HostConfig{PidMode: "host"}, remapped: true, err: "host PID namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.remap.Remapped(&tt.host); got != tt.remapped {
				t.Errorf("Remapped: got %v, want %v", got, tt.remapped)
			}
			err := tt.remap.CheckRemapped(&tt.host)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.Is(err, errdefs.KindInvalid)) {
				t.Errorf("CheckRemapped: got %v, want %q (invalid)", err, tt.err)
			}
		})
	}
}

func TestLoadRemap(t *testing.T) {
	dir := t.TempDir()
	subUIDFile, subGIDFile = filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	t.Cleanup(func() { subUIDFile, subGIDFile = "/etc/subuid", "/etc/subgid" })
	write := func(uids, gids string) {
		t.Helper()
		if err := os.WriteFile(subUIDFile, []byte(uids), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(subGIDFile, []byte(gids), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// root and its group exist on every system this runs on.
	write("root:300000:65536\n", "0:400000:65536\n")
	r, err := LoadRemap(t.Context(), "root")
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid := r.Root(); uid != 300000 || gid != 400000 || r.User != "root" || r.Group != "root" {
		t.Errorf("LoadRemap(root): got %+v; want root:root mapped from 300000:400000", r)
	}
	if r, err := LoadRemap(t.Context(), "0"); err != nil || r.Group != "root" {
		t.Errorf("LoadRemap(0): got %+v, %v; want root's group by its number", r, err)
	}
	for value, want := range map[string]string{
		"no-such-user-xyz": "no-such-user-xyz",
		"root:no-such-grp": "no-such-grp",
		"a:b:c":            "want default, USER or USER:GROUP",
	} {
		if _, err := LoadRemap(t.Context(), value); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadRemap(%s): got %v; want an error saying %q", value, err, want)
		}
	}
	write("", "0:400000:65536\n")
	if _, err := LoadRemap(t.Context(), "root"); err == nil || !strings.Contains(err.Error(), "no subordinate uid range for user root") {
		t.Errorf("LoadRemap without uids: got %v; want it to say root has no subordinate uids", err)
	}
	write("root:300000:65536\n", "")
	if _, err := LoadRemap(t.Context(), "root"); err == nil || !strings.Contains(err.Error(), "no subordinate gid range for group root") {
		t.Errorf("LoadRemap without gids: got %v; want it to say root has no subordinate gids", err)
	}
}

func TestSecurityOptions(t *testing.T) {
	if got, want := SecurityOptions(false), []string{"name=seccomp,profile=builtin"}; !cmp.Equal(got, want) {
		t.Errorf("without remapping: got %v, want %v", got, want)
	}
	if got, want := SecurityOptions(true), []string{"name=seccomp,profile=builtin", "name=userns"}; !cmp.Equal(got, want) {
		t.Errorf("with remapping: got %v, want %v", got, want)
	}
}

func TestReachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	r := &Remap{UIDs: []specs.LinuxIDMapping{{HostID: 100000, Size: 1}}, GIDs: []specs.LinuxIDMapping{{HostID: 100000, Size: 1}}}
	top := t.TempDir()
	// The test's temporary directories are 0700, the parent of top too.
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	own := filepath.Join(top, "exec")
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := r.Reachable(own); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(own); info.Mode().Perm() != 0o701 {
		t.Errorf("the daemon's own directory: mode %v, want 0701 (o+x added, nothing else)", info.Mode().Perm())
	}
	if err := os.Chmod(top, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := r.Reachable(own); err == nil || !strings.Contains(err.Error(), top+" (above "+own+")") {
		t.Errorf("a parent closed to the remapped root: got %v, want an error naming it", err)
	}
	if err := os.Chown(top, 0, 100000); err != nil {
		t.Fatal(err)
	}
	if err := r.Reachable(own); err != nil {
		t.Errorf("a parent the remapped root's group may search: got %v", err)
	}
}
