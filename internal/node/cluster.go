package node

import (
	"net"
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// Docker's defaults for a new swarm's spec.
const (
	defaultTaskHistory     = 5
	defaultHeartbeatPeriod = 5 * time.Second
	defaultCertExpiry      = 90 * 24 * time.Hour
	defaultSnapshotEvery   = 10000
	defaultSlowFollowers   = 500
	defaultElectionTick    = 10
	defaultHeartbeatTick   = 1
	defaultDataPathPort    = 4789
	defaultSubnetSize      = 24
)

// initSpec fills a swarm init request's spec with Docker's defaults where
// the user gave nothing, and refuses values that cannot work.
func initSpec(s swarm.Spec) (swarm.Spec, error) {
	if s.Name == "" {
		s.Name = "default"
	}
	if s.Orchestration.TaskHistoryRetentionLimit == nil {
		v := int64(defaultTaskHistory)
		s.Orchestration.TaskHistoryRetentionLimit = &v
	} else if *s.Orchestration.TaskHistoryRetentionLimit < 0 {
		return s, errdefs.Invalid("invalid task history retention limit %d: it must not be negative", *s.Orchestration.TaskHistoryRetentionLimit)
	}
	if s.Dispatcher.HeartbeatPeriod == 0 {
		s.Dispatcher.HeartbeatPeriod = defaultHeartbeatPeriod
	} else if s.Dispatcher.HeartbeatPeriod < 0 {
		return s, errdefs.Invalid("invalid dispatcher heartbeat period %s: it must be positive", s.Dispatcher.HeartbeatPeriod)
	}
	if s.CAConfig.NodeCertExpiry == 0 {
		s.CAConfig.NodeCertExpiry = defaultCertExpiry
	} else if s.CAConfig.NodeCertExpiry < time.Hour {
		return s, errdefs.Invalid("invalid certificate expiry %s: it must be at least 1h", s.CAConfig.NodeCertExpiry)
	}
	if s.Raft.SnapshotInterval == 0 {
		s.Raft.SnapshotInterval = defaultSnapshotEvery
	}
	if s.Raft.LogEntriesForSlowFollowers == 0 {
		s.Raft.LogEntriesForSlowFollowers = defaultSlowFollowers
	}
	if s.Raft.ElectionTick == 0 {
		s.Raft.ElectionTick = defaultElectionTick
	}
	if s.Raft.HeartbeatTick == 0 {
		s.Raft.HeartbeatTick = defaultHeartbeatTick
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	return s, nil
}

func certExpiry(s swarm.Spec) time.Duration { return s.CAConfig.NodeCertExpiry }

// rootFor makes the swarm's root CA: a new one, or the one given.
func rootFor(c swarm.CAConfig) (*ca.RootCA, error) {
	if c.SigningCACert == "" && c.SigningCAKey == "" {
		return ca.NewRootCA()
	}
	if c.SigningCACert == "" || c.SigningCAKey == "" {
		return nil, errdefs.Invalid("an external root CA needs both its certificate and its key (CAConfig.SigningCACert, CAConfig.SigningCAKey)")
	}
	return ca.ParseRootCA([]byte(c.SigningCACert), []byte(c.SigningCAKey))
}

func newCluster(id string, spec swarm.Spec, root *ca.RootCA) *store.Cluster {
	// The signing key is kept in RootCAKey, never in the served spec.
	spec.CAConfig.SigningCACert, spec.CAConfig.SigningCAKey = "", ""
	cert := root.Cert()
	return &store.Cluster{
		Swarm: swarm.Swarm{
			ClusterInfo: swarm.ClusterInfo{
				ID:   id,
				Spec: spec,
				TLSInfo: swarm.TLSInfo{
					TrustRoot:           string(root.CertPEM()),
					CertIssuerSubject:   cert.RawSubject,
					CertIssuerPublicKey: cert.RawSubjectPublicKeyInfo,
				},
				DefaultAddrPool: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
				SubnetSize:      defaultSubnetSize,
				DataPathPort:    defaultDataPathPort,
			},
			JoinTokens: swarm.JoinTokens{Worker: ca.NewJoinToken(root), Manager: ca.NewJoinToken(root)},
		},
		RootCACert: root.CertPEM(),
		RootCAKey:  root.KeyPEM(),
	}
}

func newManagerNode(id, advertise string, availability swarm.NodeAvailability, desc *swarm.NodeDescription) *store.Node {
	return &store.Node{Node: swarm.Node{
		ID: id,
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{}},
			Role:         swarm.NodeRoleManager,
			Availability: availability,
		},
		Description: *desc,
		Status:      swarm.NodeStatus{State: swarm.NodeStateReady, Addr: hostOf(advertise)},
		ManagerStatus: &swarm.ManagerStatus{
			Leader:       true,
			Reachability: swarm.ReachabilityReachable,
			Addr:         advertise,
		},
	}}
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}
