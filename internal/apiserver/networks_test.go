package apiserver

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/network"
)

// fakeLocalNetworks is a node's predefined networks.
type fakeLocalNetworks struct{}

func (fakeLocalNetworks) LocalNetworks(ctx context.Context) ([]network.Inspect, error) {
	mk := func(name, id, driver string) network.Inspect {
		return network.Inspect{Network: network.Network{Name: name, ID: id, Scope: "local", Driver: driver}}
	}
	bridge := mk("bridge", "b0b0", "bridge")
	bridge.IPAM.Config = []network.IPAMConfig{{Subnet: netip.MustParsePrefix("172.29.0.0/16")}}
	return []network.Inspect{bridge, mk("host", "h0h0", "host"), mk("none", "n0n0", "null")}, nil
}

func TestNetworks(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc, Networks: fakeLocalNetworks{}}))
	created := decode[network.CreateResponse](t, c.do("POST", "/v1.41/networks/create", map[string]any{
		"Name": "front", "Driver": "overlay", "Attachable": true, "Labels": map[string]string{"tier": "web"},
	}))
	if created.ID == "" {
		t.Fatal("create answered no ID")
	}
	names := func(path string) []string {
		t.Helper()
		var out []string
		for _, n := range decode[[]network.Summary](t, c.do("GET", path, nil)) {
			out = append(out, n.Name)
		}
		return out
	}
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/networks", []string{"bridge", "front", "host", "ingress", "none"}},
		{`/networks?filters={"driver":["overlay"]}`, []string{"front", "ingress"}},
		{`/networks?filters={"scope":["local"]}`, []string{"bridge", "host", "none"}},
		{`/networks?filters={"type":["custom"]}`, []string{"front"}},
		{`/networks?filters={"label":["tier=web"]}`, []string{"front"}},
		{`/networks?filters={"name":["ron"]}`, []string{"front"}},
		{`/networks?filters={"dangling":["true"]}`, []string{"front"}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			got := names(tt.path)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}

	t.Run("inspect by name, ID and prefix", func(t *testing.T) {
		for _, ref := range []string{"front", created.ID, created.ID[:6]} {
			n := decode[network.Inspect](t, c.do("GET", "/networks/"+ref, nil))
			if n.ID != created.ID || n.Scope != "swarm" || !n.Attachable || len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet.String() != "10.0.1.0/24" {
				t.Fatalf("inspect %s got %+v", ref, n)
			}
		}
		if n := decode[network.Inspect](t, c.do("GET", "/networks/bridge", nil)); n.ID != "b0b0" {
			t.Fatalf("got %+v", n)
		}
	})

	before := storeState(t, tc.store)
	for _, tt := range []struct {
		name, method, path string
		body               any
		code               int
		msg                string
	}{
		{"create a predefined name", "POST", "/networks/create", map[string]any{"Name": "bridge", "Driver": "overlay"}, http.StatusForbidden, "bridge is a pre-defined network and cannot be created"},
		{"create a duplicate", "POST", "/networks/create", map[string]any{"Name": "front", "Driver": "overlay"}, http.StatusConflict, "network with name front already exists"},
		{"create a local bridge without a local network backend", "POST", "/networks/create", map[string]any{"Name": "b2"}, http.StatusBadRequest, "user-defined local networks are not supported"},
		{"create with an unknown driver", "POST", "/networks/create", map[string]any{"Name": "x", "Driver": "weave"}, http.StatusNotFound, `plugin "weave" not found`},
		{"create with a bad subnet", "POST", "/networks/create", `{"Name":"x","Driver":"overlay","IPAM":{"Config":[{"Subnet":"10.0.0.0/33"}]}}`, http.StatusBadRequest, ""},
		{"remove a predefined network", "DELETE", "/networks/host", nil, http.StatusForbidden, "host is a pre-defined network and cannot be removed"},
		{"remove a missing network", "DELETE", "/networks/nope", nil, http.StatusNotFound, "network nope not found"},
		{"a bad filter", "GET", `/networks?filters={"type":["odd"]}`, nil, http.StatusBadRequest, "invalid filter"},
		{"connect a container", "POST", "/networks/front/connect", map[string]any{"Container": "x"}, http.StatusBadRequest, "not supported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, c.do(tt.method, tt.path, tt.body), tt.code, tt.msg)
		})
	}
	if storeState(t, tc.store) != before {
		t.Fatal("a refused request changed the store")
	}

	t.Run("remove and prune", func(t *testing.T) {
		if r := c.do("DELETE", "/networks/front", nil); r.code != http.StatusNoContent {
			t.Fatalf("remove got %d %s", r.code, r.body)
		}
		decode[network.CreateResponse](t, c.do("POST", "/networks/create", map[string]any{"Name": "spare", "Driver": "overlay"}))
		report := decode[network.PruneReport](t, c.do("POST", "/networks/prune", nil))
		if len(report.NetworksDeleted) != 1 || report.NetworksDeleted[0] != "spare" {
			t.Fatalf("prune got %+v, want [spare]", report)
		}
	})
}
