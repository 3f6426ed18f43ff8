package apiserver

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/store"
)

func TestServiceCanary(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	spec := serviceSpec("web")
	replicas := uint64(3)
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}
	id := createService(t, c, spec)
	svc := decode[swarm.Service](t, c.do("GET", "/services/web", nil))
	next := svc.Spec
	next.TaskTemplate.ContainerSpec.Image = "busybox:2"
	update := controlapi.CanaryUpdate{Spec: next, Canary: controlapi.CanaryOptions{Count: 1}}
	version := func() string {
		return "?version=" + strconv.FormatUint(decode[swarm.Service](t, c.do("GET", "/services/web", nil)).Version.Index, 10)
	}

	tests := []struct {
		name   string
		method string
		path   func() string
		body   any
		code   int
		state  store.CanaryState
	}{
		{"no canary to promote", "POST", func() string { return "/services/web/promote" }, nil, http.StatusBadRequest, ""},
		{"no canary yet", "GET", func() string { return "/v1.50/services/web/canary" }, nil, http.StatusOK, ""},
		{"stale version", "POST", func() string { return "/services/web/canary?version=1" }, update, http.StatusConflict, ""},
		{"bad count", "POST", func() string { return "/services/web/canary" + version() }, controlapi.CanaryUpdate{Spec: next}, http.StatusBadRequest, ""},
		{"canary", "POST", func() string { return "/services/web/canary" + version() }, update, http.StatusOK, ""},
		{"its state", "GET", func() string { return "/services/" + id + "/canary" }, nil, http.StatusOK, store.CanaryWaiting},
		{"promote", "POST", func() string { return "/services/web/promote" }, nil, http.StatusOK, store.CanaryWaiting},
		{"missing service", "POST", func() string { return "/services/nope/promote" }, nil, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(tt.method, tt.path(), tt.body)
			if r.code != tt.code {
				t.Fatalf("got %d %s, want %d", r.code, r.body, tt.code)
			}
			if tt.code != http.StatusOK || tt.method != "GET" && tt.state == "" {
				return
			}
			st := decode[controlapi.CanaryStatus](t, r)
			got := store.CanaryState("")
			if st.Canary != nil {
				got = st.Canary.State
			}
			if st.ID != id || got != tt.state {
				t.Errorf("got %+v, want service %s with canary state %q", st, id, tt.state)
			}
		})
	}
}
