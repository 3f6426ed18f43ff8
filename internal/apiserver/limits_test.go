package apiserver

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/limits"
)

// TestRefusedRequests sends requests past a limit, with bad query
// parameters or version prefixes, and checks the status, that the message
// names the problem, and that the store did not change.
func TestRefusedRequests(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	id := createService(t, c, serviceSpec("web"))
	svc := decode[swarm.Service](t, c.do("GET", "/services/"+id, nil))
	backend, err := tc.api.CreateNetwork(t.Context(), network.CreateRequest{Name: "backend", Driver: "overlay"})
	if err != nil {
		t.Fatal(err)
	}
	before := storeState(t, tc.store)

	huge := `{"Name":"big","Data":"` + strings.Repeat("A", limits.MaxRequestBody) + `"}`
	update := fmt.Sprintf("/services/%s/update?version=%d", id, svc.Version.Index)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		code   int
		msg    string
	}{
		{"replicas of 2^63", "POST", "/services/create", `{"Name":"big","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":9223372036854775808}}}`, 400,
			"Number of replicas must be non-negative (Mode.Replicated.Replicas: 9223372036854775808 is past the most any swarm allows, 1000000)"},
		{"replicas past uint64", "POST", "/services/create", `{"Name":"big","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":18446744073709551616}}}`, 400,
			"invalid JSON: json: cannot unmarshal number 18446744073709551616 into Go struct field"},
		{"replicas past the limit", "POST", update, `{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":10001}}}`, 400,
			"Mode.Replicated.Replicas: 10001 is more than the cluster's limit of 10000"},
		{"duration past int64", "POST", "/services/create", `{"Name":"big","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"UpdateConfig":{"Delay":9223372036854775808}}`, 400,
			"UpdateConfig.Delay"},
		{"body past the limit on create", "POST", "/secrets/create", huge, 413, "request body is too large: the limit is 4194304 bytes (4 MiB)"},
		{"secret past the data limit", "POST", "/secrets/create", map[string]any{"Name": "big", "Data": make([]byte, limits.MaxSecretData)}, 400,
			"secret data must be larger than 0 and less than 512000 bytes"},
		{"config past the data limit", "POST", "/configs/create", map[string]any{"Name": "big", "Data": make([]byte, limits.MaxConfigData)}, 400,
			"config data must be larger than 0 and less than 1024000 bytes"},
		{"missing network", "POST", "/services/create", `{"Name":"net","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Networks":[{"Target":"no-such-network"}]}}`, 404,
			"network no-such-network not found"},
		{"missing legacy network", "POST", "/v1.43/services/create", `{"Name":"net","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Networks":[{"Target":"no-such-network"}]}`, 404,
			"network no-such-network not found"},
		{"status=bogus", "GET", "/services?status=bogus", nil, 400, `invalid value for status: bogus: strconv.ParseBool: parsing "bogus": invalid syntax`},
		{"insertDefaults=bogus", "GET", "/services/web?insertDefaults=bogus", nil, 400, "invalid value for insertDefaults: bogus"},
		{"registryAuthFrom=bogus", "POST", update + "&registryAuthFrom=bogus", serviceSpec("web"), 400, "unsupported registryAuthFrom value"},
		{"rollback=bogus", "POST", update + "&rollback=bogus", serviceSpec("web"), 400, "unrecognized rollback option bogus"},
		{"rotateWorkerToken=bogus", "POST", "/swarm/update?version=1&rotateWorkerToken=bogus", swarm.Spec{}, 400, "invalid value for rotateWorkerToken: bogus"},
		{"rotateManagerToken=bogus", "POST", "/swarm/update?version=1&rotateManagerToken=bogus", swarm.Spec{}, 400, "invalid value for rotateManagerToken: bogus"},
		{"rotateManagerUnlockKey=bogus", "POST", "/swarm/update?version=1&rotateManagerUnlockKey=bogus", swarm.Spec{}, 400, "invalid value for rotateManagerUnlockKey: bogus"},
		{"version=bogus", "POST", "/services/web/update?version=bogus", serviceSpec("web"), 400, "invalid service version 'bogus'"},
		{"version prefix of four numbers", "GET", "/v1.41.99.1/services", nil, 400, "client version 1.41.99.1 is not an API version: want MAJOR.MINOR, from 1.24 to 1.56"},
		{"version prefix with a letter", "GET", "/v1.x/services", nil, 404, "page not found"},
		{"version prefix with two dots", "GET", "/v1..41/services", nil, 400, "client version 1..41 is too old"},
		{"version prefix too new", "GET", "/v9.99/services", nil, 400, "client version 9.99 is too new. Maximum supported API version is 1.56"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, c.do(tt.method, tt.path, tt.body), tt.code, tt.msg)
			if storeState(t, tc.store) != before {
				t.Fatal("a refused request changed the store")
			}
		})
	}

	t.Run("legacy networks are ignored from API 1.44", func(t *testing.T) {
		r := c.do("POST", "/v1.44/services/create", `{"Name":"new","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Networks":[{"Target":"no-such-network"}]}`)
		if r.code != http.StatusCreated {
			t.Fatalf("got %d %s, want 201", r.code, r.body)
		}
	})
	t.Run("legacy networks are attached before API 1.44", func(t *testing.T) {
		r := c.do("POST", "/v1.43/services/create", `{"Name":"old","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Networks":[{"Target":"backend"}]}`)
		if r.code != http.StatusCreated {
			t.Fatalf("got %d %s, want 201", r.code, r.body)
		}
		got := decode[swarm.Service](t, c.do("GET", "/services/old", nil))
		if nets := got.Spec.TaskTemplate.Networks; len(nets) != 1 || nets[0].Target != backend {
			t.Fatalf("got TaskTemplate.Networks %+v, want the backend network by ID", nets)
		}
	})
}

// TestBodyAtTheLimit checks that the largest objects Docker accepts pass
// the body limit: a config of 1000 KiB less a byte, base64 in JSON.
func TestBodyAtTheLimit(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	r := c.do("POST", "/configs/create", map[string]any{"Name": "big", "Data": make([]byte, limits.MaxConfigData-1)})
	if r.code != http.StatusCreated {
		t.Fatalf("got %d %s, want 201", r.code, r.body)
	}
}
