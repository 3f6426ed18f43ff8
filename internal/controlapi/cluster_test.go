package controlapi

import (
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

func newSwarm(t *testing.T) (*API, *store.Store, *ca.RootCA) {
	t.Helper()
	a, s := newAPI(t)
	root, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Cluster{RootCACert: root.CertPEM(), RootCAKey: root.KeyPEM()}
	c.ID = "cluster1"
	c.Spec = DefaultSwarmSpec()
	c.JoinTokens = swarm.JoinTokens{Worker: ca.NewJoinToken(root), Manager: ca.NewJoinToken(root)}
	put(t, s, c)
	return a, s, root
}

func TestSwarmNotInitialised(t *testing.T) {
	a, _ := newAPI(t)
	_, err := a.InspectSwarm(t.Context())
	wantErr(t, err, errdefs.KindUnavailable, "This node is not part of a swarm")
	wantErr(t, a.UpdateSwarm(t.Context(), 1, swarm.Spec{}, Rotation{}), errdefs.KindUnavailable, "not part of a swarm")
}

func TestUpdateSwarmRotatesTokens(t *testing.T) {
	a, _, root := newSwarm(t)
	sw, err := a.InspectSwarm(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.UpdateSwarm(t.Context(), sw.Version.Index, sw.Spec, Rotation{WorkerToken: true}); err != nil {
		t.Fatal(err)
	}
	after, _ := a.InspectSwarm(t.Context())
	if after.JoinTokens.Worker == sw.JoinTokens.Worker || after.JoinTokens.Manager != sw.JoinTokens.Manager {
		t.Fatalf("tokens got %+v (before %+v), want only the worker token new", after.JoinTokens, sw.JoinTokens)
	}
	tok, err := ca.ParseJoinToken(after.JoinTokens.Worker)
	if err != nil || !tok.MatchesRoot(root) {
		t.Fatalf("new worker token %q does not pin the root: %v", after.JoinTokens.Worker, err)
	}
	wantErr(t, a.UpdateSwarm(t.Context(), sw.Version.Index, sw.Spec, Rotation{}), errdefs.KindConflict, "update out of sequence")
}

func TestUpdateSwarmValidatesAndMerges(t *testing.T) {
	a, s, root := newSwarm(t)
	other, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := a.InspectSwarm(t.Context())
	before := snapshot(t, s)
	neg := int64(-1)
	tests := []struct {
		name   string
		change func(*swarm.Spec)
		msg    string
	}{
		{"history", func(sp *swarm.Spec) { sp.Orchestration.TaskHistoryRetentionLimit = &neg }, "TaskHistoryRetentionLimit cannot be negative"},
		{"rename", func(sp *swarm.Spec) { sp.Name = "other" }, `swarm spec must be named "default"`},
		{"cert expiry", func(sp *swarm.Spec) { sp.CAConfig.NodeCertExpiry = time.Minute }, "minimum certificate expiry time is: 1h0m0s"},
		{"heartbeat", func(sp *swarm.Spec) { sp.Dispatcher.HeartbeatPeriod = -time.Second }, "heartbeat time period cannot be a negative duration"},
		{"external CA", func(sp *swarm.Spec) { sp.CAConfig.ExternalCAs = []*swarm.ExternalCA{{URL: "https://ca"}} }, "ExternalCAs"},
		{"CA key without cert", func(sp *swarm.Spec) { sp.CAConfig.SigningCAKey = string(other.KeyPEM()) }, "CAConfig.SigningCAKey"},
		{"CA cert without key", func(sp *swarm.Spec) { sp.CAConfig.SigningCACert = string(other.CertPEM()) }, "CAConfig.SigningCACert"},
		{"CA cert and a key of another root", func(sp *swarm.Spec) {
			sp.CAConfig.SigningCACert, sp.CAConfig.SigningCAKey = string(other.CertPEM()), string(root.KeyPEM())
		}, "CAConfig.SigningCACert: root CA key does not match"},
		{"CA cert garbage", func(sp *swarm.Spec) {
			sp.CAConfig.SigningCACert, sp.CAConfig.SigningCAKey = "garbage", string(other.KeyPEM())
		}, "CAConfig.SigningCACert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := clone(sw.Spec)
			tt.change(&spec)
			wantErr(t, a.UpdateSwarm(t.Context(), sw.Version.Index, spec, Rotation{}), errdefs.KindInvalid, tt.msg)
		})
	}
	if snapshot(t, s) != before {
		t.Fatal("a refused swarm update changed the store")
	}

	// A partial spec keeps what it leaves out.
	ten := int64(10)
	if err := a.UpdateSwarm(t.Context(), sw.Version.Index, swarm.Spec{Orchestration: swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &ten}}, Rotation{}); err != nil {
		t.Fatal(err)
	}
	got, _ := a.InspectSwarm(t.Context())
	if *got.Spec.Orchestration.TaskHistoryRetentionLimit != 10 || got.Spec.Dispatcher.HeartbeatPeriod != 5*time.Second || got.Spec.Name != "default" {
		t.Fatalf("merged spec got %+v, want history 10 and the rest kept", got.Spec)
	}
}

func TestAutolockUnlockKey(t *testing.T) {
	a, _, _ := newSwarm(t)
	if k, err := a.UnlockKey(t.Context()); err != nil || k != "" {
		t.Fatalf("unlock key without autolock got %q, %v; want empty", k, err)
	}
	sw, _ := a.InspectSwarm(t.Context())
	spec := sw.Spec
	spec.EncryptionConfig.AutoLockManagers = true
	if err := a.UpdateSwarm(t.Context(), sw.Version.Index, spec, Rotation{}); err != nil {
		t.Fatal(err)
	}
	k1, _ := a.UnlockKey(t.Context())
	if !strings.HasPrefix(k1, "SWMKEY-1-") {
		t.Fatalf("unlock key got %q, want SWMKEY-1-…", k1)
	}
	if b, err := ParseUnlockKey(k1); err != nil || len(b) != 32 {
		t.Fatalf("ParseUnlockKey got %d bytes, %v; want 32", len(b), err)
	}
	sw, _ = a.InspectSwarm(t.Context())
	if err := a.UpdateSwarm(t.Context(), sw.Version.Index, sw.Spec, Rotation{ManagerUnlockKey: true}); err != nil {
		t.Fatal(err)
	}
	k2, _ := a.UnlockKey(t.Context())
	if k2 == k1 || k2 == "" {
		t.Fatalf("rotated key got %q (was %q), want a new one", k2, k1)
	}
	sw, _ = a.InspectSwarm(t.Context())
	spec = sw.Spec
	spec.EncryptionConfig.AutoLockManagers = false
	if err := a.UpdateSwarm(t.Context(), sw.Version.Index, spec, Rotation{}); err != nil {
		t.Fatal(err)
	}
	if k, _ := a.UnlockKey(t.Context()); k != "" {
		t.Fatalf("unlock key after autolock off got %q, want empty", k)
	}
	for _, bad := range []string{"", "SWMKEY-1-", "SWMKEY-2-abc", "SWMKEY-1-!!"} {
		if _, err := ParseUnlockKey(bad); !errdefs.Is(err, errdefs.KindInvalid) {
			t.Errorf("ParseUnlockKey(%q) got %v, want invalid", bad, err)
		}
	}
}

func TestUpdateSwarmStartsRootRotation(t *testing.T) {
	given, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*swarm.Spec)
		want   func(rot *store.RootRotation) bool
	}{
		{"ForceRotate makes a new root", func(sp *swarm.Spec) { sp.CAConfig.ForceRotate++ }, func(rot *store.RootRotation) bool { return len(rot.CAKey) > 0 }},
		{"a given root and key", func(sp *swarm.Spec) {
			sp.CAConfig.SigningCACert, sp.CAConfig.SigningCAKey = string(given.CertPEM()), string(given.KeyPEM())
		}, func(rot *store.RootRotation) bool { return string(rot.CACert) == string(given.CertPEM()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s, root := newSwarm(t)
			sw, _ := a.InspectSwarm(t.Context())
			spec := clone(sw.Spec)
			tt.change(&spec)
			if err := a.UpdateSwarm(t.Context(), sw.Version.Index, spec, Rotation{}); err != nil {
				t.Fatalf("UpdateSwarm: %v", err)
			}
			var c *store.Cluster
			s.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
			if c.RootRotation == nil || !c.RootRotationInProgress || !tt.want(c.RootRotation) {
				t.Fatalf("got rotation %+v, in progress %v; want the asked rotation under way", c.RootRotation, c.RootRotationInProgress)
			}
			if string(c.RootCACert) != string(root.CertPEM()) || c.JoinTokens != sw.JoinTokens {
				t.Error("starting a rotation changed the root or the join tokens; both stay until it finishes")
			}
			if c.Spec.CAConfig.SigningCAKey != "" || c.Spec.CAConfig.SigningCACert != "" {
				t.Error("the root CA key or certificate was kept in the served spec")
			}
			if c.Spec.CAConfig.ForceRotate != spec.CAConfig.ForceRotate {
				t.Errorf("got ForceRotate %d, want %d kept", c.Spec.CAConfig.ForceRotate, spec.CAConfig.ForceRotate)
			}
		})
	}
}
