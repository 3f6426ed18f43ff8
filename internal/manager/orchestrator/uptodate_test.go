package orchestrator

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

func TestUpToDateFollowsTheEndpoint(t *testing.T) {
	port := func(published uint32, mode swarm.PortConfigPublishMode) swarm.EndpointSpec {
		return swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: published, PublishMode: mode}}}
	}
	tests := []struct {
		name      string
		allocated *swarm.EndpointSpec // the endpoint the task was allocated for; nil: not yet
		now       *swarm.EndpointSpec
		want      bool
	}{
		{"not allocated yet", nil, &swarm.EndpointSpec{Ports: port(8080, "ingress").Ports}, true},
		{"nothing published, before and now", &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}, nil, true},
		{"the same port", ptr(port(8080, swarm.PortConfigPublishModeIngress)), ptr(port(8080, swarm.PortConfigPublishModeIngress)), true},
		{"a port added", &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}, ptr(port(8080, swarm.PortConfigPublishModeIngress)), false},
		{"a port moved", ptr(port(8080, swarm.PortConfigPublishModeIngress)), ptr(port(9090, swarm.PortConfigPublishModeIngress)), false},
		{"ingress to host mode", ptr(port(8080, swarm.PortConfigPublishModeIngress)), ptr(port(8080, swarm.PortConfigPublishModeHost)), false},
		{"vip to dnsrr", &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}, &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := ct.Service("s", "s", 1, func(s *store.Service) { s.Spec.EndpointSpec = tt.now; s.SpecVersion = 2 })
			task := ct.Task("t", svc, 1, "n1", func(t *store.Task) {
				t.SpecVersion = 1
				if tt.allocated != nil {
					t.Endpoint = &swarm.Endpoint{Spec: *tt.allocated}
				}
			})
			if got := UpToDate(task, svc, nil); got != tt.want {
				t.Errorf("UpToDate got %v, want %v", got, tt.want)
			}
			if got := NewSpecCheck(svc, nil).UpToDate(task); got != tt.want {
				t.Errorf("SpecCheck.UpToDate got %v, want %v", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
