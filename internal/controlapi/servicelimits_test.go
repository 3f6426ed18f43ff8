package controlapi

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
)

func replicas(n uint64) func(*swarm.ServiceSpec) {
	return func(s *swarm.ServiceSpec) {
		s.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
	}
}

func replicatedJob(total, concurrent uint64) func(*swarm.ServiceSpec) {
	return func(s *swarm.ServiceSpec) {
		s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{TotalCompletions: &total, MaxConcurrent: &concurrent}}
	}
}

func manyLabels(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strconv.Itoa(i)] = ""
	}
	return m
}

func TestServiceLimits(t *testing.T) {
	d := func(v time.Duration) *time.Duration { return &v }
	tests := []struct {
		name   string
		change func(*swarm.ServiceSpec)
		kind   errdefs.Kind // 0: accepted
		msg    string
	}{
		{"replicas at the limit", replicas(limits.DefaultMaxReplicas), 0, ""},
		{"replicas past the limit", replicas(limits.DefaultMaxReplicas + 1), errdefs.KindInvalid,
			"Mode.Replicated.Replicas: 10001 is more than the cluster's limit of 10000 (swarm label com.shoal.limits.max-replicas)"},
		{"replicas of 2^63", replicas(1 << 63), errdefs.KindInvalid,
			"rpc error: code = InvalidArgument desc = Number of replicas must be non-negative (Mode.Replicated.Replicas: 9223372036854775808 is past the most any swarm allows, 1000000)"},
		{"job completions of 2^64-1", replicatedJob(1<<64-1, 1), errdefs.KindInvalid, "Total completed jobs must not be negative (Mode.ReplicatedJob.TotalCompletions: 18446744073709551615"},
		{"job concurrency of 2^63", replicatedJob(1, 1<<63), errdefs.KindInvalid, "Maximum concurrent jobs must not be negative (Mode.ReplicatedJob.MaxConcurrent"},
		{"job completions past the limit", replicatedJob(limits.DefaultMaxReplicas+1, 1), errdefs.KindInvalid, "Mode.ReplicatedJob.TotalCompletions: 10001 is more than"},
		{"job concurrency above completions", replicatedJob(2, 5), 0, ""},
		{"job with an update config", func(s *swarm.ServiceSpec) {
			replicatedJob(1, 1)(s)
			s.UpdateConfig = &swarm.UpdateConfig{}
		}, errdefs.KindInvalid, "rpc error: code = InvalidArgument desc = Jobs may not have an update config"},
		{"max replicas per node past the limit", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{MaxReplicas: limits.DefaultMaxReplicas + 1}
		}, errdefs.KindInvalid, "TaskTemplate.Placement.MaxReplicas: 10001 is more than the cluster's limit of 10000"},
		{"restart attempts past the footprint", func(s *swarm.ServiceSpec) {
			n := uint64(1 << 62)
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{MaxAttempts: &n}
			replicas(1000)(s)
		}, errdefs.KindInvalid, "service footprint too large: 1000 slots × 1000002 tasks per slot"},
		{"update delay at the limit", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Delay: limits.MaxDuration} }, 0, ""},
		{"update delay past the limit", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Delay: limits.MaxDuration + 1} }, errdefs.KindInvalid,
			"UpdateConfig.Delay: 8760h0m0.000000001s is out of range (0 to 8760h0m0s)"},
		{"rollback monitor past the limit", func(s *swarm.ServiceSpec) { s.RollbackConfig = &swarm.UpdateConfig{Monitor: limits.MaxDuration + 1} }, errdefs.KindInvalid,
			"RollbackConfig.Monitor: 8760h0m0.000000001s is out of range"},
		{"restart window past the limit", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Window: d(limits.MaxDuration + 1)}
		}, errdefs.KindInvalid,
			"RestartPolicy.Window: 8760h0m0.000000001s is out of range"},
		{"restart delay negative", func(s *swarm.ServiceSpec) { s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Delay: d(-1)} }, errdefs.KindInvalid,
			"TaskSpec: restart-delay cannot be negative"},
		{"stop grace past the limit", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = d(limits.MaxDuration + 1) }, errdefs.KindInvalid,
			"ContainerSpec.StopGracePeriod: 8760h0m0.000000001s is out of range"},
		{"health interval past the limit", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Interval: limits.MaxDuration + 1}
		}, errdefs.KindInvalid, "ContainerSpec.Healthcheck.Interval: 8760h0m0.000000001s is out of range"},
		{"update parallelism of 2^64-1", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1<<64 - 1} }, 0, ""},
		{"labels at the limit", func(s *swarm.ServiceSpec) { s.Labels = manyLabels(limits.MaxLabels) }, 0, ""},
		{"labels past the limit", func(s *swarm.ServiceSpec) { s.Labels = manyLabels(limits.MaxLabels + 1) }, errdefs.KindInvalid, "Labels: 1001 labels, the limit is 1000"},
		{"container label value past the limit", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Labels = map[string]string{"k": strings.Repeat("v", limits.MaxLabelValueSize+1)}
		}, errdefs.KindInvalid, `TaskTemplate.ContainerSpec.Labels["k"]: a value of 65537 bytes, the limit is 65536 (64 KiB)`},
		{"spec past the size limit", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"X=" + strings.Repeat("x", limits.MaxObjectSize)}
		}, errdefs.KindInvalid, "service spec is too large: 2097"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s := newAPI(t)
			spec := validSpec("web")
			tt.change(&spec)
			before := snapshot(t, s)
			_, err := a.CreateService(t.Context(), spec)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("got %v, want the service created", err)
				}
				return
			}
			wantErr(t, err, tt.kind, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused create changed the store")
			}

			// The same change as an update of a service that is within
			// the limits.
			base := validSpec("web")
			if spec.Mode.ReplicatedJob != nil {
				replicatedJob(1, 1)(&base)
			}
			id := mustCreate(t, a, base)
			svc := stored(t, s, id)
			before = snapshot(t, s)
			wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, spec, RollbackNone), tt.kind, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused update changed the store")
			}
		})
	}
}

func TestServiceLimitsFromTheSwarm(t *testing.T) {
	a, s, _ := newSwarm(t)
	sw, err := a.InspectSwarm(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	spec := sw.Spec
	spec.Labels = map[string]string{limits.MaxReplicasLabel: "5"}
	if err := a.UpdateSwarm(t.Context(), sw.Version.Index, spec, Rotation{}); err != nil {
		t.Fatal(err)
	}
	five := validSpec("five")
	replicas(5)(&five)
	id := mustCreate(t, a, five)
	six := validSpec("six")
	replicas(6)(&six)
	_, err = a.CreateService(t.Context(), six)
	wantErr(t, err, errdefs.KindInvalid, "Mode.Replicated.Replicas: 6 is more than the cluster's limit of 5")

	sw, _ = a.InspectSwarm(t.Context())
	before := snapshot(t, s)
	for _, tt := range []struct {
		name   string
		change func(*swarm.Spec)
		msg    string
	}{
		{"a lower max-replicas", func(sp *swarm.Spec) { sp.Labels = map[string]string{limits.MaxReplicasLabel: "4"} },
			"service five would be past the swarm's new limits (com.shoal.limits.max-replicas label, Orchestration.TaskHistoryRetentionLimit): Mode.Replicated.Replicas: 5 is more than the cluster's limit of 4"},
		{"a malformed max-replicas", func(sp *swarm.Spec) { sp.Labels = map[string]string{limits.MaxReplicasLabel: "lots"} },
			`Labels["com.shoal.limits.max-replicas"]: "lots" must be a whole number from 1 to 1000000`},
		{"task history past the limit", func(sp *swarm.Spec) {
			h := int64(limits.MaxTaskHistory + 1)
			sp.Orchestration.TaskHistoryRetentionLimit = &h
		},
			"Orchestration.TaskHistoryRetentionLimit: 1001 is more than the limit of 1000"},
		{"heartbeat past the limit", func(sp *swarm.Spec) { sp.Dispatcher.HeartbeatPeriod = limits.MaxDuration + 1 },
			"Dispatcher.HeartbeatPeriod: 8760h0m0.000000001s is out of range"},
		{"negative election tick", func(sp *swarm.Spec) { sp.Raft.ElectionTick = -1 },
			"Raft.ElectionTick: -1 is out of range (0 to 4294967295)"},
		{"another election tick", func(sp *swarm.Spec) { sp.Raft.ElectionTick = 20 },
			"Raft.ElectionTick: Shoal's raft starts an election after 10 ticks (500ms) without a leader, which cannot be changed; got 20"},
		{"another heartbeat tick", func(sp *swarm.Spec) { sp.Raft.HeartbeatTick = 3 },
			"Raft.HeartbeatTick: Shoal's raft leader sends a heartbeat every tick (50ms), which cannot be changed; got 3"},
		{"old snapshots past the limit", func(sp *swarm.Spec) { k := limits.MaxKeepOldSnapshots + 1; sp.Raft.KeepOldSnapshots = &k },
			"Raft.KeepOldSnapshots: 17 is more than the limit of 16"},
		{"labels past the limit", func(sp *swarm.Spec) { sp.Labels = manyLabels(limits.MaxLabels + 1) },
			"Labels: 1001 labels, the limit is 1000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := clone(sw.Spec)
			tt.change(&spec)
			wantErr(t, a.UpdateSwarm(t.Context(), sw.Version.Index, spec, Rotation{}), errdefs.KindInvalid, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused swarm update changed the store")
			}
		})
	}

	// Raising the limit lets the service grow.
	spec = clone(sw.Spec)
	spec.Labels = map[string]string{limits.MaxReplicasLabel: "6"}
	if err := a.UpdateSwarm(t.Context(), sw.Version.Index, spec, Rotation{}); err != nil {
		t.Fatal(err)
	}
	replicas(6)(&five)
	if err := a.UpdateService(t.Context(), id, stored(t, s, id).Version.Index, five, RollbackNone); err != nil {
		t.Fatalf("got %v, want 6 replicas accepted under a limit of 6", err)
	}
}

func TestSecretAndConfigLimits(t *testing.T) {
	a, s := newAPI(t)
	secret := mustCreateSecret(t, a, "s", "x")
	config := mustCreateConfig(t, a, "c", "x")
	for _, tt := range []struct {
		name string
		do   func() error
		msg  string // "": accepted
	}{
		{"secret at the limit", func() error {
			_, err := a.CreateSecret(t.Context(), secretSpec("s1", strings.Repeat("x", limits.MaxSecretData-1)))
			return err
		}, ""},
		{"secret past the limit", func() error {
			_, err := a.CreateSecret(t.Context(), secretSpec("s2", strings.Repeat("x", limits.MaxSecretData)))
			return err
		}, "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"},
		{"config of 600 KB", func() error {
			_, err := a.CreateConfig(t.Context(), configSpec("c1", strings.Repeat("x", 600_000)))
			return err
		}, ""},
		{"config at the limit", func() error {
			_, err := a.CreateConfig(t.Context(), configSpec("c2", strings.Repeat("x", limits.MaxConfigData-1)))
			return err
		}, ""},
		{"config past the limit", func() error {
			_, err := a.CreateConfig(t.Context(), configSpec("c3", strings.Repeat("x", limits.MaxConfigData)))
			return err
		}, "rpc error: code = InvalidArgument desc = config data must be larger than 0 and less than 1024000 bytes"},
		{"secret labels past the limit", func() error {
			spec := secretSpec("s3", "x")
			spec.Labels = manyLabels(limits.MaxLabels + 1)
			_, err := a.CreateSecret(t.Context(), spec)
			return err
		}, "Labels: 1001 labels, the limit is 1000"},
		{"secret update with labels past the limit", func() error {
			spec := secretSpec("s", "")
			spec.Labels = map[string]string{strings.Repeat("k", limits.MaxLabelKeySize+1): ""}
			sec, _ := a.GetSecret(t.Context(), secret)
			return a.UpdateSecret(t.Context(), secret, sec.Version.Index, spec)
		}, "Labels: a key of 1025 bytes"},
		{"config update past the size limit", func() error {
			spec := configSpec("c", "")
			spec.Labels = map[string]string{}
			for i := range 40 {
				spec.Labels[strconv.Itoa(i)] = strings.Repeat("v", limits.MaxLabelValueSize)
			}
			cfg, _ := a.GetConfig(t.Context(), config)
			return a.UpdateConfig(t.Context(), config, cfg.Version.Index, spec)
		}, "config spec is too large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, s)
			err := tt.do()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
				return
			}
			wantErr(t, err, errdefs.KindInvalid, tt.msg)
			if snapshot(t, s) != before {
				t.Fatal("a refused request changed the store")
			}
		})
	}
}

func TestNodeLimits(t *testing.T) {
	a, s := newAPI(t)
	put(t, s, node("n1", "host1", swarm.NodeRoleWorker, swarm.NodeStateReady))
	n, _ := a.GetNode(t.Context(), "n1")
	spec := n.Spec
	spec.Labels = manyLabels(limits.MaxLabels + 1)
	before := snapshot(t, s)
	wantErr(t, a.UpdateNode(t.Context(), "n1", n.Version.Index, spec), errdefs.KindInvalid, "Labels: 1001 labels, the limit is 1000")
	if snapshot(t, s) != before {
		t.Fatal("a refused node update changed the store")
	}
	spec.Labels = manyLabels(limits.MaxLabels)
	if err := a.UpdateNode(t.Context(), "n1", n.Version.Index, spec); err != nil {
		t.Fatalf("got %v, want %d labels accepted", err, limits.MaxLabels)
	}
}

// TestNetworkReferencesOnUpdate: a spec naming the networks the stored one
// has by ID is the same spec, and one naming a network that is gone is
// refused and changes nothing. (networks_test.go covers create.)
func TestNetworkReferencesOnUpdate(t *testing.T) {
	a, s := newAPI(t)
	backend := mustNetwork(t, a, overlay("backend"))
	attach := func(target string) swarm.ServiceSpec {
		spec := validSpec("web")
		spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: target}}
		return spec
	}
	id := mustCreate(t, a, attach("backend"))
	svc := stored(t, s, id)
	if got := svc.Spec.TaskTemplate.Networks[0].Target; got != backend.ID {
		t.Fatalf("got Target %q, want the network's ID %s", got, backend.ID)
	}
	if err := a.UpdateService(t.Context(), id, svc.Version.Index, attach(backend.ID[:5]), RollbackNone); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, id); got.SpecVersion != svc.SpecVersion {
		t.Errorf("the same network by ID prefix got spec version %d, want %d unchanged", got.SpecVersion, svc.SpecVersion)
	}
	svc = stored(t, s, id)
	before := snapshot(t, s)
	wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, attach("gone"), RollbackNone), errdefs.KindNotFound, "network gone not found")
	if snapshot(t, s) != before {
		t.Fatal("a refused update changed the store")
	}
}
