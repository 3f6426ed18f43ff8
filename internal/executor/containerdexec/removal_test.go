package containerdexec

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/shoal-project/shoal/internal/executor"
)

// TestDeferRemoval: a removal frees a container's resources after its
// answer only when its process has ended and nothing it holds is shared or
// named: no volume, no swarm network, no remapped namespace.
func TestDeferRemoval(t *testing.T) {
	bridge := func() *record {
		return &record{SandboxKey: "/run/netns/x", Endpoint: &executor.Endpoint{NetworkName: "bridge"},
			Mounts: []container.MountPoint{{Type: mount.TypeBind, Source: "/srv", Destination: "/srv"}}}
	}
	tests := []struct {
		name    string
		rec     func() *record
		running bool
		want    bool
	}{
		{"ended, on the bridge, a bind mount", bridge, false, true},
		{"ended, on no network", func() *record { return &record{} }, false, true},
		{"still running", bridge, true, false},
		{"no record", func() *record { return nil }, false, false},
		{"a named volume", func() *record {
			r := bridge()
			r.Mounts = append(r.Mounts, container.MountPoint{Type: mount.TypeVolume, Name: "data", Destination: "/data"})
			return r
		}, false, false},
		{"on a swarm network", func() *record {
			r := bridge()
			r.Networks = []executor.Endpoint{{NetworkName: "ov"}}
			return r
		}, false, false},
		{"the way out of an overlay", func() *record { r := bridge(); r.WayOut = true; return r }, false, false},
		{"a remapped namespace", func() *record { r := bridge(); r.UsernsKey = "/run/userns/x"; return r }, false, false},
	}
	for _, tt := range tests {
		if got := deferRemoval(tt.rec(), tt.running); got != tt.want {
			t.Errorf("%s: deferRemoval = %v, want %v", tt.name, got, tt.want)
		}
	}
}
