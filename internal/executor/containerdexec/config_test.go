package containerdexec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/volume"
)

var testID = strings.Repeat("ab", 32)

func imageConfig(entrypoint, cmd []string, env ...string) dockerspec.DockerOCIImageConfig {
	return dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Entrypoint: entrypoint, Cmd: cmd, Env: env}}
}

func TestResolveConfigCommand(t *testing.T) {
	tests := []struct {
		name          string
		image         dockerspec.DockerOCIImageConfig
		command, args []string
		wantEP        []string
		wantCmd       []string
	}{
		{"image as is", imageConfig([]string{"ep"}, []string{"c1"}), nil, nil, []string{"ep"}, []string{"c1"}},
		{"args replace the image cmd", imageConfig([]string{"ep"}, []string{"c1"}), nil, []string{"a"}, []string{"ep"}, []string{"a"}},
		{"command replaces entrypoint and drops the image cmd", imageConfig([]string{"ep"}, []string{"c1"}), []string{"cmd"}, nil, []string{"cmd"}, nil},
		{"command and args", imageConfig([]string{"ep"}, []string{"c1"}), []string{"cmd"}, []string{"a"}, []string{"cmd"}, []string{"a"}},
		{"image without entrypoint", imageConfig(nil, []string{"sh"}), nil, nil, nil, []string{"sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := &swarm.Task{ID: "t1", Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "img", Command: tt.command, Args: tt.args}}}
			cfg, _, _, err := resolveConfig(task, testID, "n", tt.image)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantEP, cfg.Entrypoint); diff != "" {
				t.Errorf("entrypoint (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCmd, cfg.Cmd); diff != "" {
				t.Errorf("cmd (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveConfig(t *testing.T) {
	grace := 3 * time.Second
	task := &swarm.Task{
		ID: "t1", ServiceID: "s1", NodeID: "n1", Slot: 2,
		Annotations: swarm.Annotations{Labels: map[string]string{LabelServiceName: "web"}},
		Spec: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           "img",
				Env:             []string{"B=spec", "C=3"},
				Labels:          map[string]string{"app": "x", LabelTaskID: "spoofed"},
				StopGracePeriod: &grace,
				Privileges:      &swarm.Privileges{NoNewPrivileges: true},
			},
			Resources: &swarm.ResourceRequirements{
				Limits:       &swarm.Limit{MemoryBytes: 1 << 30, NanoCPUs: 1.5e9, Pids: 100},
				Reservations: &swarm.Resources{MemoryBytes: 1 << 20},
			},
		},
	}
	img := imageConfig(nil, []string{"sh"}, "A=image", "B=image")
	img.User, img.WorkingDir, img.StopSignal = "nobody", "/work", "SIGQUIT"
	cfg, host, gotGrace, err := resolveConfig(task, testID, "web.2.t1", img)
	if err != nil {
		t.Fatal(err)
	}
	timeout := 3
	want := container.Config{
		Hostname:    testID[:12],
		User:        "nobody",
		Image:       "img",
		WorkingDir:  "/work",
		Env:         []string{"A=image", "B=spec", "C=3"},
		Cmd:         []string{"sh"},
		StopSignal:  "SIGQUIT",
		StopTimeout: &timeout,
		Labels: map[string]string{
			"app": "x", LabelServiceID: "s1", LabelServiceName: "web", LabelTask: "",
			LabelTaskID: "t1", LabelTaskName: "web.2.t1", LabelNodeID: "n1",
		},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if gotGrace != grace {
		t.Errorf("got grace %v, want %v", gotGrace, grace)
	}
	if host.Memory != 1<<30 || host.NanoCPUs != 1.5e9 || host.CPUQuota != 150000 || host.CPUPeriod != 100000 ||
		*host.PidsLimit != 100 || host.MemoryReservation != 1<<20 || host.SecurityOpt[0] != "no-new-privileges=true" {
		t.Errorf("got host config %+v", host)
	}
}

func TestResolveConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cs   swarm.ContainerSpec
		img  dockerspec.DockerOCIImageConfig
	}{
		{"no command anywhere", swarm.ContainerSpec{Image: "img"}, imageConfig(nil, nil)},
		{"bad stop signal", swarm.ContainerSpec{Image: "img", StopSignal: "SIGNOPE"}, imageConfig(nil, []string{"sh"})},
		{"env without a key", swarm.ContainerSpec{Image: "img", Env: []string{"=x"}}, imageConfig(nil, []string{"sh"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := &swarm.Task{ID: "t1", Spec: swarm.TaskSpec{ContainerSpec: &tt.cs}}
			if _, _, _, err := resolveConfig(task, testID, "n", tt.img); !errdefs.Is(err, errdefs.KindInvalid) {
				t.Errorf("got %v, want an Invalid error", err)
			}
		})
	}
}

func TestProcessEnv(t *testing.T) {
	got := processEnv(&container.Config{Hostname: "h", Tty: true, Env: []string{"PATH=/bin", "X=1"}})
	want := []string{"PATH=/bin", "HOSTNAME=h", "TERM=xterm", "X=1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestResolveMounts(t *testing.T) {
	ms := []mount.Mount{
		{Type: mount.TypeBind, Source: "/src", Target: "/dst", ReadOnly: true},
		{Type: mount.TypeVolume, Source: "data", Target: "/data"},
		{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}},
		{Type: mount.TypeVolume, Source: "scratch", Target: "/scratch", VolumeOptions: &mount.VolumeOptions{
			NoCopy: true, Labels: map[string]string{"l": "v"},
			DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}},
		}},
	}
	got, points, uses, err := resolveMounts(testID, ms, "/vols")
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.Mount{
		{Destination: "/dst", Type: "bind", Source: "/src", Options: []string{"rbind", "rprivate", "ro"}},
		{Destination: "/data", Type: "bind", Source: "/vols/data/_data", Options: []string{"rbind", "rprivate", "rw"}},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "rw", "size=1048576", "mode=1777"}},
		{Destination: "/scratch", Type: "bind", Source: "/vols/scratch/_data", Options: []string{"rbind", "rprivate", "rw"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	wantUses := []volumeUse{
		{name: "data", target: "/data", copyImage: true},
		{name: "scratch", target: "/scratch", opts: volume.CreateOptions{
			Driver: "local", Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}, Labels: map[string]string{"l": "v"},
		}},
	}
	if diff := cmp.Diff(wantUses, uses, cmp.AllowUnexported(volumeUse{})); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	if points[1].Name != "data" || points[1].Driver != "local" || !points[1].RW || points[0].RW {
		t.Errorf("got mount points %+v", points)
	}

	anon, _, anonUses, err := resolveMounts(testID, []mount.Mount{{Type: mount.TypeVolume, Target: "/a"}}, "/vols")
	again, _, _, _ := resolveMounts(testID, []mount.Mount{{Type: mount.TypeVolume, Target: "/a"}}, "/vols")
	if err != nil || anon[0].Source != again[0].Source || !strings.HasPrefix(anon[0].Source, "/vols/") {
		t.Errorf("anonymous volume: got %v and %v, %v; want one stable directory under /vols", anon, again, err)
	}
	if u := anonUses[0]; !u.anonymous || u.opts.Labels[volume.AnonymousLabel] != "" || len(u.opts.Labels) != 1 {
		t.Errorf("anonymous volume: got %+v, want it marked anonymous", u)
	}

	for _, bad := range []struct {
		m    mount.Mount
		kind errdefs.Kind
	}{
		{mount.Mount{Type: mount.TypeBind, Source: "relative", Target: "/x"}, errdefs.KindInvalid},
		{mount.Mount{Type: mount.TypeBind, Source: "/x", Target: "relative"}, errdefs.KindInvalid},
		{mount.Mount{Type: mount.TypeVolume, Source: "../escape", Target: "/x"}, errdefs.KindInvalid},
		{mount.Mount{Type: mount.TypeVolume, Source: "vv", Target: "/x", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "nfs"}}}, errdefs.KindNotFound},
		{mount.Mount{Type: mount.TypeNamedPipe, Source: "p", Target: "/x"}, errdefs.KindInvalid},
	} {
		if _, _, _, err := resolveMounts(testID, []mount.Mount{bad.m}, "/vols"); !errdefs.Is(err, bad.kind) {
			t.Errorf("mount %+v: got %v, want kind %v", bad.m, err, bad.kind)
		}
	}
}

func TestSpecOptsInitNeedsABinary(t *testing.T) {
	withInit := true
	rec := &record{
		Config:     container.Config{Hostname: "h", Cmd: []string{"sh"}},
		HostConfig: container.HostConfig{Init: &withInit},
	}
	if _, err := specOpts(rec, "/dir", nil, "", nil); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Errorf("without an init binary: got %v, want Invalid", err)
	}
	if _, err := specOpts(rec, "/dir", nil, "/usr/bin/tini", nil); err != nil {
		t.Errorf("with an init binary: got %v", err)
	}
}

func TestCheckSubpath(t *testing.T) {
	data := t.TempDir()
	os.MkdirAll(filepath.Join(data, "sub", "dir"), 0o755)
	os.Symlink("/etc", filepath.Join(data, "escape"))
	os.Symlink("sub", filepath.Join(data, "inside"))
	for _, tt := range []struct {
		subpath, err string
	}{
		{"", ""},
		{"/sub/dir", ""},
		{"/inside/dir", ""},
		{"/missing", "cannot access path"},
		{"/escape", "volume subpath /escape leaves the volume (it resolves to /etc)"},
	} {
		err := checkSubpath(data, tt.subpath)
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("checkSubpath(%q) = %v, want %q", tt.subpath, err, tt.err)
		}
	}
}
