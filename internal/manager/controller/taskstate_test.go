package controller_test

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

func TestFirstSpec(t *testing.T) {
	svc := func(mods ...func(*store.Service)) *store.Service { return ct.Service("svc", "web", 1, mods...) }
	tests := []struct {
		name string
		ev   store.Event
		want bool
	}{
		{"created service", store.Event{Op: store.OpPut, Object: svc()}, true},
		{"updated spec", store.Event{Op: store.OpPut, Object: svc(func(s *store.Service) { s.SpecVersion = 2 })}, false},
		{"rolled back to the first spec", store.Event{Op: store.OpPut, Object: svc(func(s *store.Service) { s.PreviousSpec = &s.Spec })}, false},
		{"update status", store.Event{Op: store.OpPut, Object: svc(func(s *store.Service) {
			s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused}
		})}, false},
		{"deleted service", store.Event{Op: store.OpDelete, Object: svc()}, false},
		{"task", store.Event{Op: store.OpPut, Object: ct.Task("t1", svc(), 1, "")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := controller.FirstSpec(tt.ev); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
