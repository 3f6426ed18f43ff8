package controlapi

import (
	"testing"

	"github.com/shoal-project/shoal/internal/ca"
)

// TestUpdateSwarmRotatesEachToken rotates the worker token, the manager
// token and both: exactly the ones asked for change, and each new one
// pins the swarm's root. A token that fails to rotate keeps admitting
// whoever learnt it, as a manager for the manager token.
func TestUpdateSwarmRotatesEachToken(t *testing.T) {
	tests := []struct {
		name string
		rot  Rotation
	}{
		{"worker", Rotation{WorkerToken: true}},
		{"manager", Rotation{ManagerToken: true}},
		{"both", Rotation{WorkerToken: true, ManagerToken: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _, root := newSwarm(t)
			before, err := a.InspectSwarm(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := a.UpdateSwarm(t.Context(), before.Version.Index, before.Spec, tt.rot); err != nil {
				t.Fatal(err)
			}
			after, err := a.InspectSwarm(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range []struct {
				role          string
				rotate        bool
				before, after string
			}{
				{"worker", tt.rot.WorkerToken, before.JoinTokens.Worker, after.JoinTokens.Worker},
				{"manager", tt.rot.ManagerToken, before.JoinTokens.Manager, after.JoinTokens.Manager},
			} {
				if changed := tok.after != tok.before; changed != tok.rotate {
					t.Errorf("%s token changed %v, want %v", tok.role, changed, tok.rotate)
				}
				parsed, err := ca.ParseJoinToken(tok.after)
				if err != nil || !parsed.MatchesRoot(root) {
					t.Errorf("%s token %q does not pin the root: %v", tok.role, tok.after, err)
				}
			}
			if after.JoinTokens.Worker == after.JoinTokens.Manager {
				t.Errorf("worker and manager tokens are the same: %s", after.JoinTokens.Worker)
			}
		})
	}
}
