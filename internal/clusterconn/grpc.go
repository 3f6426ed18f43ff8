package clusterconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/rpc"
)

// NewGRPCServer makes a gRPC server for Mux.GRPC(): it takes the TLS state
// of the already handshaken connections, speaks JSON (package rpc), and
// enforces policy on every call (ca.RequireRole), so no cluster server
// exists without one.
func NewGRPCServer(policy ca.Policy, opts ...grpc.ServerOption) *grpc.Server {
	unary, stream := ca.RequireRole(policy)
	base := append([]grpc.ServerOption{
		grpc.Creds(handshakenCreds{}),
		grpc.ChainUnaryInterceptor(unary),
		grpc.ChainStreamInterceptor(stream),
	}, rpc.ServerOptions()...)
	return grpc.NewServer(append(base, opts...)...)
}

// DialGRPC connects to the manager at addr and waits until the connection
// is ready, or fails with errdefs.Unavailable saying why (refused, TLS
// error, wrong root). conf is called on every handshake, so a renewed
// certificate is used by the next reconnection. Calls use the JSON codec.
func DialGRPC(ctx context.Context, addr string, conf func() *tls.Config, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds := &clientCreds{conf: conf}
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			creds.record(err)
			return c, err
		}),
		rpc.DialOption(),
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, append(base, opts...)...)
	if err != nil {
		return nil, errdefs.Invalid("cluster address %q: %w", addr, err)
	}
	cc.Connect()
	for {
		switch s := cc.GetState(); s {
		case connectivity.Ready:
			return cc, nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			cc.Close()
			return nil, errdefs.Unavailable("cannot connect to manager %s: %w", addr, creds.lastErr())
		default:
			if !cc.WaitForStateChange(ctx, s) {
				cc.Close()
				return nil, errdefs.Unavailable("cannot connect to manager %s: %w", addr, errors.Join(ctx.Err(), creds.lastErr()))
			}
		}
	}
}

// clientCreds does a TLS client handshake with whatever configuration is
// current, and remembers the last failure so DialGRPC can report it.
type clientCreds struct {
	conf func() *tls.Config

	mu  sync.Mutex
	err error // guarded by mu
}

func (c *clientCreds) record(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *clientCreds) lastErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return errors.New("the connection closed before it was ready")
	}
	return c.err
}

// ClientHandshake ignores the authority (an address): the server is
// checked by the name and root in the configuration.
func (c *clientCreds) ClientHandshake(ctx context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conf := c.conf().Clone()
	conf.NextProtos = []string{ProtoGRPC}
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		c.record(err)
		return nil, nil, err
	}
	cs := tc.ConnectionState()
	if cs.NegotiatedProtocol != ProtoGRPC {
		conn.Close()
		err := fmt.Errorf("%s does not speak gRPC (negotiated %q)", conn.RemoteAddr(), cs.NegotiatedProtocol)
		c.record(err)
		return nil, nil, err
	}
	return &firstFailureConn{Conn: tc, creds: c, cert: len(conf.Certificates) > 0 || conf.GetClientCertificate != nil}, credentials.TLSInfo{
		State:          cs,
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

// firstFailureConn records why a connection failed before the server sent
// anything: with TLS 1.3 a client's handshake ends before the server has
// checked the client's certificate, so a refusal (unknown authority,
// expired certificate) shows as the first read's error (the server's
// alert) or, if the server's close won the race, the first write's.
type firstFailureConn struct {
	*tls.Conn
	creds *clientCreds
	cert  bool        // the client presented a certificate
	done  atomic.Bool // data arrived or the failure was recorded
}

func (c *firstFailureConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.done.Store(true)
	}
	c.fail(err)
	return n, err
}

func (c *firstFailureConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.fail(err)
	return n, err
}

// fail records only the first failure: later ones come from gRPC closing
// the connection after it.
func (c *firstFailureConn) fail(err error) {
	if err == nil || !c.done.CompareAndSwap(false, true) {
		return
	}
	if c.cert {
		err = fmt.Errorf("the manager closed the connection (does it trust this node's certificate?): %w", err)
	} else {
		err = fmt.Errorf("the manager closed the connection: %w", err)
	}
	c.creds.record(err)
}

func (c *clientCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("clusterconn: client credentials used on a server")
}

func (c *clientCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.3"}
}

func (c *clientCreds) Clone() credentials.TransportCredentials { return &clientCreds{conf: c.conf} }

func (c *clientCreds) OverrideServerName(string) error { return nil }

// handshakenCreds are the server side of connections whose TLS handshake
// the Mux already did: they only expose its result to gRPC, where
// ca.IdentityFromContext finds it.
type handshakenCreds struct{}

func (handshakenCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil, nil, fmt.Errorf("clusterconn: gRPC server got a %T; serve Mux.GRPC()", conn)
	}
	return tc, credentials.TLSInfo{
		State:          tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

func (handshakenCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("clusterconn: server credentials used on a client")
}

func (handshakenCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.3"}
}

func (handshakenCreds) Clone() credentials.TransportCredentials { return handshakenCreds{} }

func (handshakenCreds) OverrideServerName(string) error { return nil }
