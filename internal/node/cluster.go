package node

import (
	"net"
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/externalca"
	"github.com/shoal-project/shoal/internal/store"
)

// Docker's defaults for a new swarm's spec.
const (
	defaultTaskHistory     = 5
	defaultHeartbeatPeriod = 5 * time.Second
	defaultCertExpiry      = 90 * 24 * time.Hour
	defaultSnapshotEvery   = 10000
	defaultSlowFollowers   = 500
	defaultDataPathPort    = 4789
	defaultSubnetSize      = 24
)

// initSpec fills a swarm init request's spec with Docker's defaults where
// the user gave nothing, and refuses values that cannot work.
func initSpec(s swarm.Spec) (swarm.Spec, error) {
	if s.Name == "" {
		s.Name = "default"
	}
	if err := controlapi.ValidateSwarmName(s.Name); err != nil {
		return s, err
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
		s.Raft.ElectionTick = controlapi.RaftElectionTick
	}
	if s.Raft.HeartbeatTick == 0 {
		s.Raft.HeartbeatTick = controlapi.RaftHeartbeatTick
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	return s, controlapi.ValidateSwarmNumbers(s)
}

// rootFor makes the swarm's root CA: a new one, the one given, or — with
// external CAs (swarm init --external-ca protocol=cfssl,url=...,cacert=...)
// — the root they sign under, whose key the swarm never holds.
func rootFor(c swarm.CAConfig) (*ca.RootCA, error) {
	if err := externalca.Validate(c.ExternalCAs); err != nil {
		return nil, err
	}
	if c.SigningCAKey != "" && c.SigningCACert == "" {
		return nil, errdefs.Invalid("CAConfig.SigningCAKey: a root CA key was given without its certificate (CAConfig.SigningCACert)")
	}
	cert := c.SigningCACert
	if cert == "" && len(c.ExternalCAs) > 0 {
		for _, ext := range c.ExternalCAs {
			if cert = ext.CACert; cert != "" {
				break
			}
		}
		if cert == "" {
			return nil, errdefs.Invalid("CAConfig.ExternalCAs: the root certificate the external CA signs under is needed (cacert=FILE in --external-ca)")
		}
	}
	switch {
	case cert == "":
		return ca.NewRootCA()
	case c.SigningCAKey == "" && len(c.ExternalCAs) == 0:
		return nil, errdefs.Invalid("CAConfig.SigningCACert: a root CA certificate needs its key (CAConfig.SigningCAKey) or an external CA that signs under it (CAConfig.ExternalCAs)")
	}
	return ca.ParseRootCA([]byte(cert), []byte(c.SigningCAKey))
}

// addrPool checks a swarm init's default address pool, subnet size and
// data path port, and fills in Docker's defaults.
func addrPool(req swarm.InitRequest) (pools []netip.Prefix, size, port uint32, err error) {
	pools, size, port = req.DefaultAddrPool, req.SubnetSize, req.DataPathPort
	if len(pools) == 0 {
		pools = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}
	if size == 0 {
		size = defaultSubnetSize
	}
	if port == 0 {
		port = defaultDataPathPort
	}
	if port < 1024 || port > 49151 {
		return nil, 0, 0, errdefs.Invalid("invalid data path port %d: it must be within range 1024 to 49151", port)
	}
	if size > 29 {
		return nil, 0, 0, errdefs.Invalid("invalid default address pool mask length %d: it must be at most 29, so that a subnet holds tasks", size)
	}
	for i, p := range pools {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, 0, 0, errdefs.Invalid("invalid default address pool %s: only IPv4 pools are supported", p)
		}
		if p != p.Masked() {
			return nil, 0, 0, errdefs.Invalid("invalid default address pool %s: did you mean %s?", p, p.Masked())
		}
		if p.Bits() > int(size) {
			return nil, 0, 0, errdefs.Invalid("invalid default address pool %s: it is smaller than the subnet size /%d", p, size)
		}
		for _, q := range pools[:i] {
			if p.Overlaps(q) {
				return nil, 0, 0, errdefs.Invalid("invalid default address pool %s: it overlaps %s", p, q)
			}
		}
	}
	return pools, size, port, nil
}

func newCluster(id string, spec swarm.Spec, root *ca.RootCA, pools []netip.Prefix, subnetSize, dataPathPort uint32) *store.Cluster {
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
				DefaultAddrPool: pools,
				SubnetSize:      subnetSize,
				DataPathPort:    dataPathPort,
			},
			JoinTokens: swarm.JoinTokens{Worker: ca.NewJoinToken(root), Manager: ca.NewJoinToken(root)},
		},
		RootCACert: root.CertPEM(),
		RootCAKey:  root.KeyPEM(),
	}
}

func newManagerNode(id, advertise, dataPath string, availability swarm.NodeAvailability, desc *swarm.NodeDescription) *store.Node {
	return &store.Node{DataPathAddr: dataPath, Node: swarm.Node{
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
