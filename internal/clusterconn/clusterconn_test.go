package clusterconn_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/rpc/rpctest"
)

func registerEcho(s grpc.ServiceRegistrar) { s.RegisterService(&rpctest.ServiceDesc, rpctest.Server{}) }

// Echo stands for a join call (open to nodes without a certificate), Count
// for a manager-only call, and Whoami for a method the policy forgot.
var testPolicy = ca.Policy{
	rpctest.MethodEcho:  {ca.Anonymous, ca.ManagerRole, ca.WorkerRole},
	rpctest.MethodCount: {ca.ManagerRole},
}

func TestAuthorization(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	mux := clusterconntest.Listen(t, root, manager)
	clusterconntest.ServeGRPC(t, mux, testPolicy, registerEcho)
	addr := mux.Addr().String()
	conns := map[string]*grpc.ClientConn{
		"manager": clusterconntest.Dial(t, root, addr, &manager),
		"worker":  clusterconntest.Dial(t, root, addr, &worker),
		"no cert": clusterconntest.Dial(t, root, addr, nil),
	}
	calls := map[string]func(cc *grpc.ClientConn) error{
		"join call": func(cc *grpc.ClientConn) error {
			_, err := rpctest.Echo(t.Context(), cc, &swarm.Service{ID: "x"})
			return err
		},
		"manager-only stream": func(cc *grpc.ClientConn) error {
			_, err := rpctest.Count(t.Context(), cc, 2)
			return err
		},
		"method not in policy": func(cc *grpc.ClientConn) error {
			_, err := rpctest.Whoami(t.Context(), cc)
			return err
		},
	}
	tests := []struct {
		caller, call string
		want         codes.Code
		wantMsg      string
	}{
		{"no cert", "join call", codes.OK, ""},
		{"worker", "join call", codes.OK, ""},
		{"manager", "join call", codes.OK, ""},
		{"manager", "manager-only stream", codes.OK, ""},
		{"worker", "manager-only stream", codes.PermissionDenied, "not allowed for node " + worker.ID + " with role swarm-worker"},
		{"no cert", "manager-only stream", codes.Unauthenticated, "needs a client certificate with role swarm-manager"},
		{"manager", "method not in policy", codes.PermissionDenied, "not in the authorization policy"},
		{"no cert", "method not in policy", codes.PermissionDenied, "not in the authorization policy"},
	}
	for _, tt := range tests {
		t.Run(tt.caller+" "+tt.call, func(t *testing.T) {
			err := calls[tt.call](conns[tt.caller])
			if got := status.Code(err); got != tt.want {
				t.Fatalf("got %v (%v), want %v", got, err, tt.want)
			}
			if err != nil && !strings.Contains(status.Convert(err).Message(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", status.Convert(err).Message(), tt.wantMsg)
			}
		})
	}
}

func TestHandshakeRefusals(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	other := clusterconntest.NewRoot(t)
	mux := clusterconntest.Listen(t, root, manager)
	clusterconntest.ServeGRPC(t, mux, testPolicy, registerEcho)
	addr := mux.Addr().String()

	// A worker certificate cannot serve the cluster port: clients check
	// for the manager name.
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	workerMux := clusterconntest.Listen(t, root, worker)
	clusterconntest.ServeGRPC(t, workerMux, testPolicy, registerEcho)

	foreign := clusterconntest.NewNode(t, other, ca.ManagerRole)
	// An impostor that holds a manager certificate of another root and
	// sends the swarm's root after it: the root is public, so its digest
	// matching the join token proves nothing until the chain verifies.
	impostorMux := clusterconntest.Listen(t, root, foreign)
	clusterconntest.ServeGRPC(t, impostorMux, testPolicy, registerEcho)
	tests := []struct {
		name    string
		addr    string
		conf    *tls.Config
		wantMsg string
	}{
		{"client cert of another root", addr, clusterconn.ClientTLS(root.Trust(), &foreign.Cert, clusterconn.ProtoGRPC), "the manager closed the connection (does it trust this node's certificate?)"},
		{"server of another root", addr, clusterconn.ClientTLS(other.Trust(), nil, clusterconn.ProtoGRPC), "certificate signed by unknown authority"},
		{"server with a worker certificate", workerMux.Addr().String(), clusterconn.ClientTLS(root.Trust(), nil, clusterconn.ProtoGRPC), "swarm-manager"},
		{"join token of another root", addr, clusterconn.ClientTLSPinned(other.Digest(), clusterconn.ProtoGRPC), "does not match the join token"},
		{"join token's root sent by a server of another root", impostorMux.Addr().String(), clusterconn.ClientTLSPinned(root.Digest(), clusterconn.ProtoGRPC), "does not verify against the root CA in the join token"},
		{"join token's root, server with a worker certificate", workerMux.Addr().String(), clusterconn.ClientTLSPinned(root.Digest(), clusterconn.ProtoGRPC), "does not verify against the root CA in the join token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := clusterconn.DialGRPC(t.Context(), tt.addr, func() *tls.Config { return tt.conf })
			if err == nil {
				cc.Close()
				t.Fatal("DialGRPC succeeded, want the connection refused")
			}
			if !errdefs.Is(err, errdefs.KindUnavailable) {
				t.Errorf("got %v, want an Unavailable error", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestJoinWithPinnedRoot(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, manager)
	clusterconntest.ServeGRPC(t, mux, testPolicy, registerEcho)

	tok, err := ca.ParseJoinToken(ca.NewJoinToken(root))
	if err != nil {
		t.Fatal(err)
	}
	conf := clusterconn.ClientTLSPinned(tok.RootDigest, clusterconn.ProtoGRPC)
	cc, err := clusterconn.DialGRPC(t.Context(), mux.Addr().String(), func() *tls.Config { return conf })
	if err != nil {
		t.Fatalf("DialGRPC pinned to the token's root: %v", err)
	}
	defer cc.Close()
	got, err := rpctest.Echo(t.Context(), cc, &swarm.Service{ID: "join"})
	if err != nil {
		t.Fatalf("join call without a certificate: %v", err)
	}
	if got.ID != "join" {
		t.Errorf("got service ID %q, want join", got.ID)
	}
}

func TestTLS12Refused(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, manager)
	conf := clusterconn.ClientTLS(root.Trust(), &manager.Cert, clusterconn.ProtoGRPC)
	conf.MinVersion, conf.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	c, err := tls.Dial("tcp", mux.Addr().String(), conf)
	if err == nil {
		c.Close()
		t.Fatal("TLS 1.2 handshake succeeded, want it refused")
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("got %v, want a protocol version alert", err)
	}
}

func TestUnknownProtocolClosed(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, manager)

	t.Run("unknown ALPN", func(t *testing.T) {
		c, err := tls.Dial("tcp", mux.Addr().String(), clusterconn.ClientTLS(root.Trust(), nil, "shoal-other"))
		if err == nil {
			c.Close()
			t.Fatal("handshake with ALPN shoal-other succeeded, want it refused")
		}
	})
	// Go's TLS server lets these through without a protocol; the mux then
	// closes them.
	for name, protos := range map[string][]string{"no ALPN": nil, "ALPN http/1.1": {"http/1.1"}} {
		t.Run(name, func(t *testing.T) {
			conf := clusterconn.ClientTLS(root.Trust(), nil, "")
			conf.NextProtos = protos
			c, err := tls.Dial("tcp", mux.Addr().String(), conf)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer c.Close()
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("read: got %v, want EOF (the mux closes connections without a protocol)", err)
			}
		})
	}
}

func TestSetTLSConfig(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	first := clusterconntest.NewNode(t, root, ca.ManagerRole)
	renewed := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, first)
	mux.SetTLSConfig(clusterconn.ServerTLS(root.Trust(), renewed.Cert))

	c, err := tls.Dial("tcp", mux.Addr().String(), clusterconn.ClientTLS(root.Trust(), nil, clusterconn.ProtoGRPC))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != renewed.ID {
		t.Errorf("server presented node %s, want the renewed certificate of %s", got, renewed.ID)
	}
}

func TestDialGRPCNothingListening(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	mux := clusterconntest.Listen(t, root, clusterconntest.NewNode(t, root, ca.ManagerRole))
	addr := mux.Addr().String()
	mux.Close()
	conf := clusterconn.ClientTLS(root.Trust(), nil, clusterconn.ProtoGRPC)
	_, err := clusterconn.DialGRPC(t.Context(), addr, func() *tls.Config { return conf })
	if !errdefs.Is(err, errdefs.KindUnavailable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("got %v, want Unavailable saying the connection was refused", err)
	}
}

// TestRootRotationMixedTrust connects, in both directions, nodes that
// trust only the old root, only the new one or both, holding certificates
// from either, as they do in the middle of a root rotation: every pair
// whose trust covers the other's issuer connects, and a joining node that
// pins the old root by its token verifies a manager until that manager
// trusts only the new root.
func TestRootRotationMixedTrust(t *testing.T) {
	old, next := clusterconntest.NewRoot(t), clusterconntest.NewRoot(t)
	cross, err := old.CrossSign(next)
	if err != nil {
		t.Fatal(err)
	}
	rotating, err := next.WithIntermediate(cross)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := ca.ParseTrust(append(old.CertPEM(), next.CertPEM()...))
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string]*ca.RootCA{"old cert": old, "rotated cert": rotating}
	trusts := map[string]*ca.Trust{"old trust": old.Trust(), "new trust": next.Trust(), "both": bundle}
	for serverCert, signer := range certs {
		for serverTrust, st := range trusts {
			server := clusterconntest.NewNode(t, signer, ca.ManagerRole)
			mux, err := clusterconn.Listen("127.0.0.1:0", clusterconn.ServerTLS(st, server.Cert), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { mux.Close() })
			go acceptAndHandshake(mux)
			for clientCert, csigner := range certs {
				for clientTrust, ct := range trusts {
					client := clusterconntest.NewNode(t, csigner, ca.WorkerRole)
					want := covers(clientTrust, serverCert) && covers(serverTrust, clientCert)
					name := fmt.Sprintf("server %s+%s, client %s+%s", serverCert, serverTrust, clientCert, clientTrust)
					t.Run(name, func(t *testing.T) {
						err := handshake(mux.Addr().String(), clusterconn.ClientTLS(ct, &client.Cert, clusterconn.ProtoGRPC))
						if got := err == nil; got != want {
							t.Errorf("got handshake error %v, want success %v", err, want)
						}
					})
				}
			}
			t.Run(fmt.Sprintf("joiner pinning the old root, server %s+%s", serverCert, serverTrust), func(t *testing.T) {
				// Once a manager trusts only the new root, tokens pinning the
				// old one are over.
				want := serverTrust != "new trust"
				err := handshake(mux.Addr().String(), clusterconn.ClientTLSPinned(old.Digest(), clusterconn.ProtoGRPC))
				if got := err == nil; got != want {
					t.Errorf("got handshake error %v, want success %v", err, want)
				}
			})
		}
	}
}

// covers says which certificates a trust accepts: the new root alone does
// not accept certificates of the old one.
func covers(trust, cert string) bool { return !(trust == "new trust" && cert == "old cert") }

// acceptAndHandshake completes the server side of every connection on the
// mux's gRPC listener, so a client learns whether it was accepted.
func acceptAndHandshake(m *clusterconn.Mux) {
	for {
		c, err := m.GRPC().Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if tc, ok := c.(*tls.Conn); ok && tc.Handshake() == nil {
				c.Write([]byte{1})
			}
		}()
	}
}

// handshake dials addr and waits for the server's byte: TLS 1.3 clients
// finish their handshake before the server has checked their certificate.
func handshake(addr string, conf *tls.Config) error {
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}
