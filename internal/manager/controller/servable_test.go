package controller_test

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

// A loop's remembered verdicts follow the service's version and the
// cluster's limits: a verdict never outlives either.
func TestVerdictsFollowVersionAndLimits(t *testing.T) {
	st := ct.NewStore(t)
	cluster := &store.Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "c"}}}
	ct.Put(t, st, cluster, ct.Service("svc", "web", 2*limits.DefaultMaxReplicas))
	var v controller.Verdicts
	servable := func() bool {
		s := v.Read(st)
		return s.Unservable(s.Services[0]) == nil
	}
	steps := []struct {
		name   string
		change func(c *store.Cluster, s *store.Service)
		want   bool
	}{
		{"past the default limit", nil, false},
		{"the same again", nil, false},
		{"the cluster's limit raised", func(c *store.Cluster, _ *store.Service) {
			c.Spec.Labels = map[string]string{limits.MaxReplicasLabel: "100000"}
		}, true},
		{"the service past the raised limit", func(_ *store.Cluster, s *store.Service) {
			n := uint64(1e18)
			s.Spec.Mode.Replicated.Replicas = &n
		}, false},
		{"the service scaled down", func(_ *store.Cluster, s *store.Service) {
			n := uint64(3)
			s.Spec.Mode.Replicated.Replicas = &n
		}, true},
	}
	for _, step := range steps {
		if step.change != nil {
			var c *store.Cluster
			var s *store.Service
			st.View(func(tx store.ReadTx) {
				c = store.Clone(store.TheCluster(tx))
				s = store.Clone(store.Get[*store.Service](tx, "svc"))
			})
			step.change(c, s)
			ct.Put(t, st, c, s)
		}
		if got := servable(); got != step.want {
			t.Errorf("%s: got servable %v, want %v", step.name, got, step.want)
		}
	}
}
