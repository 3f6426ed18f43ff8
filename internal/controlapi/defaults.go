package controlapi

import (
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// Docker's defaults for what a service spec leaves out, as
// GET /services/{id}?insertDefaults=true shows them (SwarmKit's
// api/defaults, through dockerd's conversion).
const (
	defaultStopGrace    = 10 * time.Second
	defaultRestartDelay = 5 * time.Second
	defaultMonitor      = 5 * time.Second
)

func defaultUpdateConfig() *swarm.UpdateConfig {
	return &swarm.UpdateConfig{
		Parallelism:   1,
		FailureAction: swarm.UpdateFailureActionPause,
		Monitor:       defaultMonitor,
		Order:         swarm.UpdateOrderStopFirst,
	}
}

// withDefaults returns a copy of spec with Docker's defaults filled in
// where spec leaves a whole part out.
func withDefaults(spec swarm.ServiceSpec) swarm.ServiceSpec {
	s := clone(spec)
	if c := s.TaskTemplate.ContainerSpec; c != nil {
		if c.StopGracePeriod == nil {
			d := defaultStopGrace
			c.StopGracePeriod = &d
		}
		if c.DNSConfig == nil {
			c.DNSConfig = &swarm.DNSConfig{}
		}
	}
	if s.TaskTemplate.Resources == nil {
		s.TaskTemplate.Resources = &swarm.ResourceRequirements{}
	}
	if s.TaskTemplate.Resources.Limits == nil {
		s.TaskTemplate.Resources.Limits = &swarm.Limit{}
	}
	if s.TaskTemplate.Resources.Reservations == nil {
		s.TaskTemplate.Resources.Reservations = &swarm.Resources{}
	}
	if s.TaskTemplate.RestartPolicy == nil {
		d, zero := defaultRestartDelay, uint64(0)
		s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &d, MaxAttempts: &zero}
	}
	if s.TaskTemplate.Placement == nil {
		s.TaskTemplate.Placement = &swarm.Placement{}
	}
	if s.UpdateConfig == nil {
		s.UpdateConfig = defaultUpdateConfig()
	}
	if s.RollbackConfig == nil {
		s.RollbackConfig = defaultUpdateConfig()
	}
	if s.EndpointSpec == nil {
		s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	return s
}

// DefaultSwarmSpec is the cluster spec of a new swarm: Docker's defaults
// (name "default", task history 5, heartbeat 5 s, certificates for 90
// days, raft snapshots every 10000 entries).
func DefaultSwarmSpec() swarm.Spec {
	history := int64(5)
	keep := uint64(0)
	return swarm.Spec{
		Annotations:   swarm.Annotations{Name: "default", Labels: map[string]string{}},
		Orchestration: swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &history},
		Raft: swarm.RaftConfig{
			SnapshotInterval:           10000,
			KeepOldSnapshots:           &keep,
			LogEntriesForSlowFollowers: 500,
			ElectionTick:               10,
			HeartbeatTick:              1,
		},
		Dispatcher: swarm.DispatcherConfig{HeartbeatPeriod: 5 * time.Second},
		CAConfig:   swarm.CAConfig{NodeCertExpiry: 90 * 24 * time.Hour},
	}
}

// MergeSwarmSpec returns cur with the parts in that are set replacing
// cur's, as dockerd merges a spec sent to swarm init and swarm update:
// zero values keep what the cluster has, so clients may send part of a
// spec. Autolock and the CA signing settings are always taken from in.
func MergeSwarmSpec(cur, in swarm.Spec) swarm.Spec {
	s := clone(cur)
	if in.Name != "" {
		s.Name = in.Name
	}
	if len(in.Labels) != 0 {
		s.Labels = clone(in.Labels)
	}
	if in.Orchestration.TaskHistoryRetentionLimit != nil {
		v := *in.Orchestration.TaskHistoryRetentionLimit
		s.Orchestration.TaskHistoryRetentionLimit = &v
	}
	if in.Raft.SnapshotInterval != 0 {
		s.Raft.SnapshotInterval = in.Raft.SnapshotInterval
	}
	if in.Raft.KeepOldSnapshots != nil {
		v := *in.Raft.KeepOldSnapshots
		s.Raft.KeepOldSnapshots = &v
	}
	if in.Raft.LogEntriesForSlowFollowers != 0 {
		s.Raft.LogEntriesForSlowFollowers = in.Raft.LogEntriesForSlowFollowers
	}
	if in.Raft.ElectionTick != 0 {
		s.Raft.ElectionTick = in.Raft.ElectionTick
	}
	if in.Raft.HeartbeatTick != 0 {
		s.Raft.HeartbeatTick = in.Raft.HeartbeatTick
	}
	if in.Dispatcher.HeartbeatPeriod != 0 {
		s.Dispatcher.HeartbeatPeriod = in.Dispatcher.HeartbeatPeriod
	}
	if in.CAConfig.NodeCertExpiry != 0 {
		s.CAConfig.NodeCertExpiry = in.CAConfig.NodeCertExpiry
	}
	s.CAConfig.ExternalCAs = clone(in.CAConfig.ExternalCAs)
	s.CAConfig.SigningCACert = in.CAConfig.SigningCACert
	s.CAConfig.SigningCAKey = in.CAConfig.SigningCAKey
	s.CAConfig.ForceRotate = in.CAConfig.ForceRotate
	s.EncryptionConfig.AutoLockManagers = in.EncryptionConfig.AutoLockManagers
	if in.TaskDefaults.LogDriver != nil {
		s.TaskDefaults.LogDriver = clone(in.TaskDefaults.LogDriver)
	}
	return s
}
