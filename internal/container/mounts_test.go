package container

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func TestMounts(t *testing.T) {
	tests := []struct {
		name string
		cfg  containertypes.Config
		host containertypes.HostConfig
		want []mount.Mount
		err  string
	}{
		{
			name: "binds, mounts, tmpfs and volumes in order",
			cfg:  containertypes.Config{Volumes: map[string]struct{}{"/var/lib": {}, "/data": {}}},
			host: containertypes.HostConfig{
				Binds:  []string{"/srv/:/data:ro,rshared", "cache:/cache:nocopy"},
				Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "logs", Target: "/logs"}},
				Tmpfs:  map[string]string{"/run": "size=1m,mode=1777", "/tmp": ""},
			},
			want: []mount.Mount{
				{Type: mount.TypeBind, Source: "/srv", Target: "/data", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: "rshared", CreateMountpoint: true}},
				{Type: mount.TypeVolume, Source: "cache", Target: "/cache", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
				{Type: mount.TypeVolume, Source: "logs", Target: "/logs"},
				{Type: mount.TypeTmpfs, Target: "/run", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}},
				{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{}},
				{Type: mount.TypeVolume, Target: "/var/lib"},
			},
		},
		{name: "bind without destination", host: containertypes.HostConfig{Binds: []string{"/srv"}}, err: "want SOURCE:DESTINATION[:OPTIONS]"},
		{name: "bind to /", host: containertypes.HostConfig{Binds: []string{"/srv:/"}}, err: "destination can't be '/'"},
		{name: "bad volume name", host: containertypes.HostConfig{Binds: []string{"my vol:/data"}}, err: `"my vol" is neither an absolute host path nor a volume name`},
		{name: "unknown bind option", host: containertypes.HostConfig{Binds: []string{"/srv:/data:fast"}}, err: `unknown option "fast"`},
		{name: "nocopy on a bind", host: containertypes.HostConfig{Binds: []string{"/srv:/data:nocopy"}}, err: "nocopy is for volumes only"},
		{name: "mount of another type", host: containertypes.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeNamedPipe, Target: "/p"}}},
			err: `mount type "npipe" is not supported`},
		{name: "relative mount target", host: containertypes.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Target: "tmp"}}},
			err: "mount path must be absolute"},
		{name: "tmpfs with a source", host: containertypes.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Source: "x", Target: "/tmp"}}},
			err: "source must not be specified"},
		{name: "tmpfs bad size", host: containertypes.HostConfig{Tmpfs: map[string]string{"/run": "size=big"}}, err: `size "big" is not a size`},
		{name: "tmpfs unknown option", host: containertypes.HostConfig{Tmpfs: map[string]string{"/run": "exec"}}, err: `option "exec" is not supported`},
		{name: "duplicate", host: containertypes.HostConfig{Binds: []string{"/a:/x", "/b:/x/"}}, err: "Duplicate mount point: /x"},
		{name: "relative volume path", cfg: containertypes.Config{Volumes: map[string]struct{}{"data": {}}}, err: "the path in the container must be absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Mounts(&tt.cfg, &tt.host)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Mounts = %v, %v; want %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("Mounts (-want +got):\n%s", d)
			}
		})
	}
}
