package engine

import (
	"slices"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"
)

// TestResolverNets: a container on a local network and a swarm overlay
// has a DNS server that answers both networks' names, whichever of the
// two the caller (the local or the swarm side, as the last connect
// was) is; one on the default bridge has none, as in dockerd.
func TestResolverNets(t *testing.T) {
	for _, tc := range []struct {
		name         string
		mode         containertypes.NetworkMode
		local, swarm []string
		want         []string
		run          bool
	}{
		{"run on an overlay, a local network connected", "shared", []string{"lnet"}, []string{"ov"}, []string{"lnet", "ov"}, true},
		{"run on a local network, an overlay connected", "mine", []string{"lnet"}, []string{"ov"}, []string{"lnet", "ov"}, true},
		{"links first", "mine", []string{"links-c1", "lnet"}, []string{"ov"}, []string{"links-c1", "lnet", "ov"}, true},
		{"overlay only", "shared", nil, []string{"ov"}, []string{"ov"}, true},
		{"local only, the overlay disconnected", "shared", []string{"lnet"}, nil, []string{"lnet"}, true},
		{"on no network left", "shared", nil, nil, nil, false},
		{"default bridge with an overlay", "bridge", nil, []string{"ov"}, []string{"ov"}, false},
		{"default mode with a local network", "default", []string{"lnet"}, nil, []string{"lnet"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, run := resolverNets(tc.mode, tc.local, tc.swarm)
			if !slices.Equal(got, tc.want) || run != tc.run {
				t.Errorf("resolverNets(%s, %v, %v) = %v, %v; want %v, %v", tc.mode, tc.local, tc.swarm, got, run, tc.want, tc.run)
			}
		})
	}
}
