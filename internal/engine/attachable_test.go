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
		// dockerd 20.10 starts one for a container run with --network
		// none once it left none for a user network.
		{"none, a local network connected", "none", []string{"lnet"}, nil, []string{"lnet"}, true},
		{"none, on no network", "none", nil, nil, nil, false},
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
	on, off := true, false
	for _, tc := range []struct {
		mode containertypes.NetworkMode
		ref  string
		s    *network.EndpointSettings
		// set is what docker network connect or disconnect of none
		// left (container.Container.OnNone); nets how many networks
		// the container is on, none aside.
		set  *bool
		nets int
		want string
	}{
		{"n1", "bridge", nil, nil, 1, ""},
		{"bridge", "bridge", nil, nil, 1, ""}, // refused later: already exists
		{"default", "n2", withAlias, nil, 1, ""},
		{"n1", "n2", withIP, nil, 1, ""},
		{"host", "bridge", nil, nil, 0, shared},
		{"container:abc", "bridge", nil, nil, 0, shared},
		{"none", "bridge", nil, nil, 0, none},
		{"none", "n1", nil, nil, 0, none},
		{"n1", "none", nil, nil, 1, none},
		{"n1", "host", nil, nil, 1, host},
		{"n1", "bridge", withIP, nil, 1, ip},
		{"n1", "bridge", withAlias, nil, 1, alias},
		// Checked side by side with dockerd 20.10: a container run with
		// --network none, once disconnected from none, joins any
		// network, and then none no more; one left on no network joins
		// none; none twice is an endpoint that exists.
		{"none", "n1", nil, &off, 0, ""},
		{"none", "bridge", nil, &off, 0, ""},
		{"none", "none", nil, &off, 0, ""},
		{"none", "none", nil, &off, 1, none},
		{"default", "none", nil, nil, 0, ""},
		{"default", "n1", nil, &on, 0, none},
		{"none", "none", nil, nil, 0, "endpoint with name web already exists in network none"},
	} {
		err := checkConnect(tc.mode, tc.ref, "web", tc.s, onNone(tc.mode, tc.set), tc.nets)
		if got := errText(err); got != tc.want {
			t.Errorf("connect %s to %s (mode %s, none %v, %d networks): %q, want %q", tc.ref, tc.mode, tc.mode, onNone(tc.mode, tc.set), tc.nets, got, tc.want)
		}
	}
}

func TestCheckDisconnect(t *testing.T) {
	const id = "3a35e2f164d1"
	on, off := true, false
	for _, tc := range []struct {
		mode containertypes.NetworkMode
		ref  string
		set  *bool
		want string
	}{
		{"n1", "bridge", nil, ""}, // the executor says whether it is on it
		{"host", "host", nil, "container cannot be disconnected from host network or connected to host network"},
		{"n1", "host", nil, "container 3a35e2f164d1 is not connected to network host"},
		{"n1", "none", nil, "container 3a35e2f164d1 is not connected to network none"},
		{"container:abc", "bridge", nil, "container 3a35e2f164d1 is not connected to network bridge"},
		// As dockerd 20.10: a container run with --network none leaves
		// it, once; one that joined none leaves it too.
		{"none", "none", nil, ""},
		{"none", "none", &off, "container 3a35e2f164d1 is not connected to network none"},
		{"default", "none", &on, ""},
	} {
		if got := errText(checkDisconnect(tc.mode, tc.ref, id, onNone(tc.mode, tc.set))); got != tc.want {
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
