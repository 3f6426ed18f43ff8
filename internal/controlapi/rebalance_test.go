package controlapi

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

func TestRebalanceService(t *testing.T) {
	onN1 := func(svc *store.Service, n int) []any {
		var out []any
		for i := range n {
			out = append(out, ct.Task(svc.ID+string(rune('a'+i)), svc, i+1, "n1"))
		}
		return out
	}
	tests := []struct {
		name      string
		objs      func() []any
		ref       string
		wantErr   errdefs.Kind
		wantState store.RebalanceState
		wantMoves int
	}{
		{
			name: "loaded node and an empty one",
			objs: func() []any {
				svc := ct.Service("s1", "web", 4)
				return append([]any{ct.Node("n1"), ct.Node("n2"), svc}, onN1(svc, 4)...)
			},
			ref:       "web",
			wantState: store.RebalanceActive,
			wantMoves: 2,
		},
		{
			name: "already rebalancing",
			objs: func() []any {
				svc := ct.Service("s1", "web", 4, func(s *store.Service) {
					s.Rebalance = &store.RebalanceStatus{State: store.RebalanceActive, StartedAt: testNow, Moved: 1}
				})
				return append([]any{ct.Node("n1"), ct.Node("n2"), svc}, onN1(svc, 4)...)
			},
			ref:       "web",
			wantState: store.RebalanceActive,
		},
		{
			name: "already spread",
			objs: func() []any {
				svc := ct.Service("s1", "web", 2)
				return append([]any{ct.Node("n1"), svc}, onN1(svc, 2)...)
			},
			ref:       "s1",
			wantState: store.RebalanceCompleted,
		},
		{
			name: "tasks in flight",
			objs: func() []any {
				svc := ct.Service("s1", "web", 2)
				return append([]any{ct.Node("n1"), svc, ct.Task("s1x", svc, 3, "", ct.Desired(swarm.TaskStateReady))}, onN1(svc, 2)...)
			},
			ref:       "web",
			wantState: store.RebalanceActive,
		},
		{
			name:    "global service",
			objs:    func() []any { return []any{ct.Node("n1"), ct.Service("s1", "agent", 0, ct.Global)} },
			ref:     "agent",
			wantErr: errdefs.KindInvalid,
		},
		{
			name:    "no such service",
			objs:    func() []any { return []any{ct.Node("n1")} },
			ref:     "nope",
			wantErr: errdefs.KindNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s := newAPI(t)
			put(t, s, tt.objs()...)
			rep, err := a.RebalanceService(t.Context(), tt.ref)
			if tt.wantErr != errdefs.KindUnknown {
				if got := errdefs.KindOf(err); got != tt.wantErr {
					t.Fatalf("got error %v (kind %d), want kind %d", err, got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Status.State != tt.wantState || len(rep.Moves) != tt.wantMoves {
				t.Errorf("got %s with %d moves, want %s with %d", rep.Status.State, len(rep.Moves), tt.wantState, tt.wantMoves)
			}
			for _, m := range rep.Moves {
				if m.From != "n1" || m.To != "n2" {
					t.Errorf("got move %+v, want n1 to n2", m)
				}
			}
			var stored *store.RebalanceStatus
			s.View(func(tx store.ReadTx) { stored = store.Get[*store.Service](tx, rep.ID).Rebalance })
			switch {
			case tt.wantState == store.RebalanceActive && (stored == nil || stored.State != store.RebalanceActive):
				t.Errorf("got stored status %+v, want an active rebalance", stored)
			case tt.wantState == store.RebalanceCompleted && stored != nil:
				t.Errorf("got stored status %+v for a spread service, want none", stored)
			}
		})
	}
}
