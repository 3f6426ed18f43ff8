package apiserver

import (
	"net/http"
	"testing"
)

func TestPing(t *testing.T) {
	c := newClient(t, serve(t, Config{Cluster: newTestCluster(t), Version: "0.1.0"}))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := c.do(method, "/_ping", nil)
		want := map[string]string{
			"Api-Version":         APIVersion,
			"Docker-Experimental": "false",
			"Ostype":              "linux",
			"Server":              "Docker/0.1.0 (linux)",
			"Swarm":               "active/manager",
			"Cache-Control":       "no-cache, no-store, must-revalidate",
			"Pragma":              "no-cache",
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s /_ping header %s got %q, want %q", method, k, got, v)
			}
		}
		wantBody := "OK"
		if method == http.MethodHead {
			wantBody = ""
		}
		if r.code != http.StatusOK || string(r.body) != wantBody {
			t.Errorf("%s /_ping got %d %q, want 200 %q", method, r.code, r.body, wantBody)
		}
	}
	out := newClient(t, serve(t, Config{Cluster: &testCluster{}}))
	if got := out.do(http.MethodHead, "/_ping", nil).header.Get("Swarm"); got != "inactive" {
		t.Errorf("Swarm header outside a swarm got %q, want inactive", got)
	}
}

func TestVersionPrefixes(t *testing.T) {
	c := newClient(t, serve(t, Config{Cluster: newTestCluster(t)}))
	tests := []struct {
		path string
		code int
		msg  string
	}{
		{"/version", 200, ""},
		{"/v1.24/version", 200, ""},
		{"/v1.41/_ping", 200, ""},
		{"/v1.50/services", 200, ""},
		{"/v1.56/nodes", 200, ""},
		{"/v1.60/version", 400, "client version 1.60 is too new. Maximum supported API version is 1.56"},
		{"/v2/version", 400, "client version 2 is too new"},
		{"/v1.12/version", 400, "client version 1.12 is too old. Minimum supported API version is 1.24"},
		{"/v1.41/nope", 404, "page not found"},
		{"/vx/version", 404, "page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := c.do(http.MethodGet, tt.path, nil)
			if tt.msg == "" {
				if r.code != tt.code {
					t.Fatalf("got %d %s, want %d", r.code, r.body, tt.code)
				}
				return
			}
			wantError(t, r, tt.code, tt.msg)
			if r.header.Get("Api-Version") != APIVersion {
				t.Errorf("error response without the Api-Version header")
			}
		})
	}
}

func TestUnknownRoutes(t *testing.T) {
	c := newClient(t, serve(t, Config{Cluster: newTestCluster(t)}))
	for _, tt := range []struct{ method, path string }{
		{"GET", "/plugins"},
		{"PUT", "/services/create"},
		{"GET", "/services/create/extra/parts"},
		{"POST", "/images/busybox/frobnicate"},
	} {
		wantError(t, c.do(tt.method, tt.path, nil), http.StatusNotFound, "page not found")
	}
}

func TestVersionAndInfo(t *testing.T) {
	c := newClient(t, serve(t, Config{Cluster: newTestCluster(t), Version: "0.1.0", System: fakeSystem{}, Containers: &fakeContainers{}, Images: &fakeImages{}}))
	v := decode[map[string]any](t, c.do("GET", "/version", nil))
	if v["ApiVersion"] != APIVersion || v["MinAPIVersion"] != MinAPIVersion || v["Version"] != "0.1.0" || v["KernelVersion"] != "6.1.0-test" {
		t.Errorf("version got %v", v)
	}
	info := decode[map[string]any](t, c.do("GET", "/info", nil))
	sw, _ := info["Swarm"].(map[string]any)
	if sw["LocalNodeState"] != "active" || sw["ControlAvailable"] != true || info["NCPU"] != float64(2) || info["Name"] != "host1" {
		t.Errorf("info got %v", info)
	}
	if info["Containers"] != float64(2) || info["ContainersRunning"] != float64(1) || info["Images"] != float64(1) {
		t.Errorf("info counts got containers %v running %v images %v, want 2, 1, 1", info["Containers"], info["ContainersRunning"], info["Images"])
	}
}

func TestPanicAnswers500(t *testing.T) {
	c := newClient(t, serve(t, Config{Containers: &fakeContainers{panicOnList: true}}))
	wantError(t, c.do("GET", "/containers/json", nil), http.StatusInternalServerError, "internal server error: boom")
	// The server still serves.
	if r := c.do("GET", "/_ping", nil); r.code != 200 {
		t.Fatalf("after a panic /_ping got %d", r.code)
	}
}
