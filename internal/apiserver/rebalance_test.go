package apiserver

import (
	"encoding/json"
	"testing"

	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/store"
)

func TestServiceRebalance(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	id := createService(t, c, serviceSpec("web"))
	tests := []struct {
		name  string
		path  string
		code  int
		state store.RebalanceState
	}{
		{"spread service", "/services/web/rebalance", 200, store.RebalanceCompleted},
		{"by ID", "/services/" + id + "/rebalance", 200, store.RebalanceCompleted},
		{"missing service", "/services/nope/rebalance", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("POST", tt.path, nil)
			if r.code != tt.code {
				t.Fatalf("got %d %s, want %d", r.code, r.body, tt.code)
			}
			if tt.code != 200 {
				return
			}
			var rep controlapi.RebalanceReport
			if err := json.Unmarshal(r.body, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.ID != id || rep.Status.State != tt.state {
				t.Errorf("got report %+v, want service %s %s", rep, id, tt.state)
			}
		})
	}
}
