package clusterconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// RaftStreamLayer carries hashicorp/raft's network transport over the
// cluster port. Only managers take part: an incoming raft connection whose
// client certificate is not a manager's, or that the peer check refuses,
// is dropped.
type RaftStreamLayer struct {
	mux       *Mux
	advertise net.Addr
	client    func() *tls.Config
	// check judges the manager behind each incoming connection; nil (the
	// pointer) admits every manager.
	check atomic.Pointer[func(ca.Identity) error]
}

var _ raft.StreamLayer = (*RaftStreamLayer)(nil)

// NewRaftStreamLayer makes the stream layer for raft.NewNetworkTransport.
// advertise is the address peers reach this node at, which raft records as
// the node's own; "" means the Mux's address, which must then not be a
// wildcard. client is called on every dial, so renewed certificates are
// used by the next connection; it should come from ClientTLS with this
// node's certificate.
func NewRaftStreamLayer(m *Mux, advertise string, client func() *tls.Config) (*RaftStreamLayer, error) {
	if advertise == "" {
		advertise = m.Addr().String()
	}
	host, _, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil, errdefs.Invalid("raft advertise address %q: %w", advertise, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return nil, errdefs.Invalid("raft advertise address %q is not an address peers can reach: give an advertise address", advertise)
	}
	return &RaftStreamLayer{mux: m, advertise: addr(advertise), client: client}, nil
}

// SetPeerCheck makes Accept drop the raft connections of managers that
// check refuses (a non-nil error): a manager removed from the swarm keeps
// its manager certificate until it expires, so it is refused by node ID.
// Set it before handing the layer to raft; a connection is judged once,
// when it is accepted.
func (l *RaftStreamLayer) SetPeerCheck(check func(ca.Identity) error) {
	l.check.Store(&check)
}

// Accept returns the next raft connection from a manager the peer check
// admits.
func (l *RaftStreamLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.mux.Raft().Accept()
		if err != nil {
			return nil, err
		}
		if err := l.admit(c.(*tls.Conn).ConnectionState()); err != nil {
			l.mux.log.Warn("raft connection refused", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			continue
		}
		return c, nil
	}
}

func (l *RaftStreamLayer) admit(cs tls.ConnectionState) error {
	id, err := requireManager(cs)
	if err != nil {
		return err
	}
	if check := l.check.Load(); check != nil && *check != nil {
		if err := (*check)(id); err != nil {
			return fmt.Errorf("raft peer %s refused: %w", id.NodeID, err)
		}
	}
	return nil
}

// Close stops accepting raft connections; the cluster port stays open.
func (l *RaftStreamLayer) Close() error { return l.mux.Raft().Close() }

// Addr is the advertised address.
func (l *RaftStreamLayer) Addr() net.Addr { return l.advertise }

// Dial opens a raft connection to the manager at address.
func (l *RaftStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conf := l.client().Clone()
	conf.NextProtos = []string{ProtoRaft}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), conf)
	if err != nil {
		return nil, fmt.Errorf("raft: dial %s: %w", address, err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != ProtoRaft {
		c.Close()
		return nil, fmt.Errorf("raft: %s does not speak %s (negotiated %q)", address, ProtoRaft, p)
	}
	return c, nil
}

// requireManager returns the identity of a peer with a manager
// certificate.
func requireManager(cs tls.ConnectionState) (ca.Identity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ca.Identity{}, errdefs.Forbidden("raft needs a manager certificate; the peer presented none")
	}
	id, err := ca.IdentityFromCert(cs.VerifiedChains[0][0])
	if err != nil {
		return ca.Identity{}, err
	}
	if id.Role != ca.ManagerRole {
		return ca.Identity{}, errdefs.Forbidden("raft peer %s has role %s, want %s", id.NodeID, id.Role, ca.ManagerRole)
	}
	return id, nil
}

// addr is an advertised "host:port" as a net.Addr.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
