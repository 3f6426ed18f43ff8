package engine

import (
	"net/netip"
	"slices"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
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

func TestCheckConnect(t *testing.T) {
	// dockerd 20.10's answers, side by side (docs/NETWORKING.md).
	const (
		host   = "container cannot be disconnected from host network or connected to host network"
		shared = "container sharing network namespace with another container or host cannot be connected to any other network"
		none   = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
		ip     = "user specified IP address is supported on user defined networks only"
		alias  = "network-scoped alias is supported only for containers in user defined networks"
	)
	withIP := &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.17.0.50")}}
	withAlias := &network.EndpointSettings{Aliases: []string{"foo"}}
	for _, tc := range []struct {
		mode containertypes.NetworkMode
		ref  string
		s    *network.EndpointSettings
		want string
	}{
		{"n1", "bridge", nil, ""},
		{"bridge", "bridge", nil, ""}, // refused later: already exists
		{"default", "n2", withAlias, ""},
		{"n1", "n2", withIP, ""},
		{"host", "bridge", nil, shared},
		{"container:abc", "bridge", nil, shared},
		{"none", "bridge", nil, none},
		{"none", "n1", nil, none},
		{"n1", "none", nil, none},
		{"n1", "host", nil, host},
		{"n1", "bridge", withIP, ip},
		{"n1", "bridge", withAlias, alias},
	} {
		err := checkConnect(tc.mode, tc.ref, tc.s)
		if got := errText(err); got != tc.want {
			t.Errorf("connect %s to %s (mode %s): %q, want %q", tc.ref, tc.mode, tc.mode, got, tc.want)
		}
	}
}

func TestCheckDisconnect(t *testing.T) {
	const id = "3a35e2f164d1"
	for _, tc := range []struct {
		mode containertypes.NetworkMode
		ref  string
		want string
	}{
		{"n1", "bridge", ""}, // the executor says whether it is on it
		{"host", "host", "container cannot be disconnected from host network or connected to host network"},
		{"n1", "host", "container 3a35e2f164d1 is not connected to network host"},
		{"n1", "none", "container 3a35e2f164d1 is not connected to network none"},
		{"container:abc", "bridge", "container 3a35e2f164d1 is not connected to network bridge"},
	} {
		if got := errText(checkDisconnect(tc.mode, tc.ref, id)); got != tc.want {
			t.Errorf("disconnect %s from %s: %q, want %q", tc.ref, tc.mode, got, tc.want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
