// Package caserver is the managers' certificate authority service: it
// gives joining nodes the root certificate and, for a valid join token, a
// node certificate and a place in the cluster; members renew their
// certificates through it.
package caserver

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// Full method names.
const (
	MethodRoot  = "/shoal.CA/RootCertificate"
	MethodIssue = "/shoal.CA/IssueNodeCertificate"
)

// Policy says who may call what: both calls are open to nodes without a
// certificate (a joining node has none yet); Issue then demands a token or
// a valid certificate.
func Policy() ca.Policy {
	all := []ca.Role{ca.Anonymous, ca.ManagerRole, ca.WorkerRole}
	return ca.Policy{MethodRoot: all, MethodIssue: all}
}

// RootRequest asks for the root certificate.
type RootRequest struct{}

// RootResponse carries the roots a node must trust, a PEM bundle: the
// root, and the new root while the cluster rotates to it.
type RootResponse struct{ TrustPEM []byte }

// IssueRequest asks for a node certificate. Without a client certificate
// the Token decides the role; with one, the node's certificate is renewed
// for its current role.
type IssueRequest struct {
	CSR          []byte // PEM
	Token        string
	Availability swarm.NodeAvailability
	// AdvertiseAddr is the joining manager's cluster address (host:port).
	AdvertiseAddr string
	// DataPathAddr is where other nodes send the joining node's overlay
	// traffic (join --data-path-addr); empty for its session's address.
	DataPathAddr string `json:",omitempty"`
}

// IssueResponse is the node's new identity.
type IssueResponse struct {
	NodeID    string
	ClusterID string
	Role      ca.Role
	CertPEM   []byte
	// Managers are the cluster addresses of the managers, for the new
	// node's agent.
	Managers []string
}

// Server implements the service over the store.
type Server struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
	// leader says where the raft leader is and whether it is this
	// manager; nil when this manager always is.
	leader func() (addr string, self bool)
	// clientCert is this manager's certificate, presented to external CAs;
	// nil presents none.
	clientCert func() *tls.Certificate
}

// New returns a server.
func New(st *store.Store, log *slog.Logger) *Server {
	return &Server{store: st, log: log, now: clock.Now}
}

// WithLeader makes the server send joining nodes to the leader when this
// manager is a follower: registering a node is a write only the leader
// commits. leader returns the leader's cluster address and whether it is
// this manager.
func (s *Server) WithLeader(leader func() (addr string, self bool)) *Server {
	s.leader = leader
	return s
}

// WithClientCert makes the server present cert to the external CAs that
// sign for a cluster whose root key it does not hold.
func (s *Server) WithClientCert(cert func() *tls.Certificate) *Server {
	s.clientCert = cert
	return s
}

// notLeaderPrefix starts the refusal that names the leader; LeaderHint
// reads it back.
const notLeaderPrefix = "this manager is not the leader; the leader is at "

// LeaderHint returns the leader's address a follower named in refusing a
// join, or "".
func LeaderHint(err error) string {
	msg := status.Convert(err).Message()
	rest, ok := strings.CutPrefix(msg, notLeaderPrefix)
	if !ok {
		return ""
	}
	addr, err := strconv.Unquote(rest)
	if err != nil {
		return ""
	}
	return addr
}

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { g.RegisterService(&serviceDesc, s) }

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "shoal.CA",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "RootCertificate", Handler: rpc.Unary(MethodRoot, (*Server).Root)},
		{MethodName: "IssueNodeCertificate", Handler: rpc.Unary(MethodIssue, (*Server).Issue)},
	},
}

// Root returns the roots of the cluster.
func (s *Server) Root(_ context.Context, _ *RootRequest) (*RootResponse, error) {
	var c *store.Cluster
	s.store.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	if c == nil {
		return nil, status.Error(codes.Unavailable, "this manager has no cluster state yet")
	}
	return &RootResponse{TrustPEM: rootca.TrustPEM(c)}, nil
}

// errBadToken is SwarmKit's answer to a wrong or rotated token.
var errBadToken = status.Error(codes.InvalidArgument, "A valid join token is necessary to join this cluster")

// roleForToken decides which role a join token grants, comparing in
// constant time. It is pure so it can be tested directly.
func roleForToken(tokens swarm.JoinTokens, token string) (ca.Role, bool) {
	switch {
	case token == "":
		return "", false
	case subtle.ConstantTimeCompare([]byte(token), []byte(tokens.Manager)) == 1:
		return ca.ManagerRole, true
	case subtle.ConstantTimeCompare([]byte(token), []byte(tokens.Worker)) == 1:
		return ca.WorkerRole, true
	}
	return "", false
}

// Issue issues a node certificate: for a new node holding a join token, it
// also registers the node; for a member, it renews its certificate.
func (s *Server) Issue(ctx context.Context, req *IssueRequest) (*IssueResponse, error) {
	var (
		c     *store.Cluster
		nodes []*store.Node
	)
	s.store.View(func(tx store.ReadTx) {
		c = store.TheCluster(tx)
		nodes = store.All[*store.Node](tx)
	})
	if c == nil {
		return nil, status.Error(codes.Unavailable, "this manager has no cluster state yet")
	}
	resp := &IssueResponse{ClusterID: c.ID, Managers: managerAddrs(nodes)}
	id, err := ca.IdentityFromContext(ctx)
	member := err == nil
	if member {
		// A member renewing: same node, role as the store says now (a
		// promotion or demotion takes effect at renewal).
		if Removed(c, id.NodeID) {
			return nil, errRemoved(id.NodeID)
		}
		var n *store.Node
		s.store.View(func(tx store.ReadTx) { n = store.Get[*store.Node](tx, id.NodeID) })
		if n == nil {
			return nil, status.Errorf(codes.PermissionDenied, "node %s is no longer a member of this swarm", id.NodeID)
		}
		resp.NodeID, resp.Role = n.ID, roleOf(n.Spec.Role)
	} else {
		role, ok := roleForToken(c.JoinTokens, req.Token)
		if !ok {
			return nil, errBadToken
		}
		resp.NodeID, resp.Role = identity.NewID(), role
		// Only the leader registers nodes: refuse before signing anything.
		if err := s.mustLead(); err != nil {
			return nil, err
		}
	}
	// Sign before registering, so that a CA that cannot sign (an external
	// one that is down) leaves no node behind that never joined.
	certPEM, err := rootca.Issue(ctx, c, req.CSR, resp.NodeID, resp.Role, s.clientCert, s.log)
	if err != nil {
		return nil, rpc.Status(fmt.Errorf("issue certificate: %w", err))
	}
	if !member {
		if err := s.register(ctx, resp.NodeID, resp.Role, req); err != nil {
			return nil, err
		}
	}
	resp.CertPEM = certPEM
	s.log.Info("issued node certificate", "node.id", resp.NodeID, "role", resp.Role)
	return resp, nil
}

// mustLead refuses when this manager is not the raft leader, naming the
// leader when there is one (LeaderHint).
func (s *Server) mustLead() error {
	if s.leader == nil {
		return nil
	}
	switch addr, self := s.leader(); {
	case addr == "":
		return status.Error(codes.Unavailable, "the swarm has no leader to register this node: a quorum of managers is needed; try again")
	case !self:
		return status.Errorf(codes.Unavailable, "%s%q", notLeaderPrefix, addr)
	}
	return nil
}

// register adds a joining node to the store. It is Unknown until its agent
// opens a session; a manager is a raft member only once it joins raft.
func (s *Server) register(ctx context.Context, nodeID string, role ca.Role, req *IssueRequest) error {
	availability := req.Availability
	if availability == "" {
		availability = swarm.NodeAvailabilityActive
	}
	if err := s.mustLead(); err != nil {
		return err
	}
	n := &store.Node{DataPathAddr: req.DataPathAddr, Node: swarm.Node{
		ID: nodeID,
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{}},
			Role:         swarm.NodeRoleWorker,
			Availability: availability,
		},
		Status: swarm.NodeStatus{State: swarm.NodeStateUnknown},
	}}
	if role == ca.ManagerRole {
		n.Spec.Role = swarm.NodeRoleManager
		n.ManagerStatus = &swarm.ManagerStatus{Reachability: swarm.ReachabilityUnknown, Addr: req.AdvertiseAddr}
	}
	err := s.store.Update(ctx, func(tx *store.WriteTx) error { return tx.Put(n) })
	if err != nil {
		return status.Errorf(codes.Unavailable, "register node: %v", err)
	}
	return nil
}

func roleOf(r swarm.NodeRole) ca.Role {
	if r == swarm.NodeRoleManager {
		return ca.ManagerRole
	}
	return ca.WorkerRole
}

func managerAddrs(nodes []*store.Node) []string {
	var out []string
	for _, n := range nodes {
		if n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
			out = append(out, n.ManagerStatus.Addr)
		}
	}
	return out
}

// Root fetches the roots to trust from a manager.
func Root(ctx context.Context, cc grpc.ClientConnInterface) (*RootResponse, error) {
	out := new(RootResponse)
	return out, cc.Invoke(ctx, MethodRoot, &RootRequest{}, out)
}

// Issue asks a manager for a node certificate.
func Issue(ctx context.Context, cc grpc.ClientConnInterface, req *IssueRequest) (*IssueResponse, error) {
	out := new(IssueResponse)
	return out, cc.Invoke(ctx, MethodIssue, req, out)
}
