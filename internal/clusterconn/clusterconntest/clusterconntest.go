// Package clusterconntest builds cluster transports for tests: node
// certificates from a test root, and gRPC servers and clients over a real
// loopback cluster port with mutual TLS.
package clusterconntest

import (
	"crypto/tls"
	"testing"

	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/identity"
)

// Node is a node's identity and certificate.
type Node struct {
	ID   string
	Role ca.Role
	Cert tls.Certificate
}

// NewRoot makes a root CA or fails the test.
func NewRoot(t testing.TB) *ca.RootCA {
	t.Helper()
	root, err := ca.NewRootCA()
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return root
}

// NewNode issues a certificate with a fresh node ID and role in cluster
// "test-cluster".
func NewNode(t testing.TB, root *ca.RootCA, role ca.Role) Node {
	t.Helper()
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatalf("NewKeyAndCSR: %v", err)
	}
	id := identity.NewID()
	certPEM, err := root.IssueNodeCert(csrPEM, id, role, "test-cluster", 0)
	if err != nil {
		t.Fatalf("IssueNodeCert: %v", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return Node{ID: id, Role: role, Cert: cert}
}

// Listen opens a cluster port on 127.0.0.1 for a manager, closed when the
// test ends.
func Listen(t testing.TB, root *ca.RootCA, manager Node) *clusterconn.Mux {
	t.Helper()
	m, err := clusterconn.Listen("127.0.0.1:0", clusterconn.ServerTLS(root.Trust(), manager.Cert), nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// ServeGRPC serves a gRPC server with policy (and opts) on m's gRPC
// listener until the test ends; register adds the services.
func ServeGRPC(t testing.TB, m *clusterconn.Mux, policy ca.Policy, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) {
	t.Helper()
	srv := clusterconn.NewGRPCServer(policy, opts...)
	register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(m.GRPC())
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
}

// Dial connects to addr as node (nil: no client certificate) and closes
// the connection when the test ends.
func Dial(t testing.TB, root *ca.RootCA, addr string, node *Node) *grpc.ClientConn {
	t.Helper()
	var cert *tls.Certificate
	if node != nil {
		cert = &node.Cert
	}
	conf := clusterconn.ClientTLS(root.Trust(), cert, clusterconn.ProtoGRPC)
	cc, err := clusterconn.DialGRPC(t.Context(), addr, func() *tls.Config { return conf })
	if err != nil {
		t.Fatalf("DialGRPC %s: %v", addr, err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}
