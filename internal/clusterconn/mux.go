package clusterconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// defaultHandshakeTimeout bounds how long a new connection may take to
// finish its TLS handshake and be taken by its protocol's listener.
const defaultHandshakeTimeout = 10 * time.Second

// Mux is the cluster port: it accepts TCP connections, completes their TLS
// handshakes in their own goroutines (so a slow or silent client holds up
// no one else), and hands each to the listener of the protocol it
// negotiated.
type Mux struct {
	ln      net.Listener
	log     *slog.Logger
	timeout time.Duration
	conf    atomic.Pointer[tls.Config]

	grpc, raft, blob *subListener

	ctx    context.Context // done when the Mux is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every handshake
}

// Listen opens the cluster port on addr with conf (see ServerTLS). log may
// be nil.
func Listen(addr string, conf *tls.Config, log *slog.Logger) (*Mux, error) {
	return listen(addr, conf, log, defaultHandshakeTimeout)
}

func listen(addr string, conf *tls.Config, log *slog.Logger, timeout time.Duration) (*Mux, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on cluster port %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{ln: ln, log: log, timeout: timeout, ctx: ctx, cancel: cancel}
	m.conf.Store(conf)
	m.grpc = newSubListener(m)
	m.raft = newSubListener(m)
	m.blob = newSubListener(m)
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// GRPC is the listener of connections that negotiated "h2"; serve it with
// a server from NewGRPCServer.
func (m *Mux) GRPC() net.Listener { return m.grpc }

// Raft is the listener of connections that negotiated "shoal-raft"; use it
// through NewRaftStreamLayer.
func (m *Mux) Raft() net.Listener { return m.raft }

// Blob is the listener of connections that negotiated "shoal-blob": each
// is a BlobConn. Close it on a port that serves no images, so that such
// connections are closed at once.
func (m *Mux) Blob() net.Listener { return m.blob }

// Addr is the address the port is bound to.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// SetTLSConfig replaces the server configuration for the handshakes that
// start from now on: renewed certificates and rotated roots take effect
// without closing the port.
func (m *Mux) SetTLSConfig(conf *tls.Config) { m.conf.Store(conf) }

// Close stops accepting, interrupts handshakes in progress and closes the
// protocol listeners. Connections already handed out stay open: their
// owners close them.
func (m *Mux) Close() error {
	m.cancel()
	err := m.ln.Close()
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if m.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait instead of
			// spinning, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("cluster port accept failed", "err", err, "retry.in", backoff)
			select {
			case <-time.After(backoff):
			case <-m.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		m.wg.Add(1)
		go m.handshake(conn)
	}
}

func (m *Mux) handshake(conn net.Conn) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, m.timeout)
	defer cancel()
	raw := &batchConn{Conn: conn}
	tc := tls.Server(raw, m.conf.Load())
	if err := tc.HandshakeContext(ctx); err != nil {
		m.log.Debug("cluster port handshake failed", "remote", conn.RemoteAddr(), "err", err)
		conn.Close()
		return
	}
	var sub *subListener
	var handed net.Conn = tc
	switch proto := tc.ConnectionState().NegotiatedProtocol; proto {
	case ProtoGRPC:
		sub = m.grpc
	case ProtoRaft:
		sub = m.raft
	case ProtoBlob:
		sub, handed = m.blob, &BlobConn{Conn: tc, raw: raw}
	default:
		m.log.Debug("cluster port connection without a known protocol", "remote", conn.RemoteAddr(), "alpn", proto)
		conn.Close()
		return
	}
	select {
	case sub.conns <- handed:
	case <-sub.closed:
		conn.Close()
	case <-ctx.Done():
		m.log.Debug("cluster port connection not accepted in time", "remote", conn.RemoteAddr())
		conn.Close()
	}
}

// subListener is the net.Listener of one protocol. Closing it stops that
// protocol only, so that stopping the gRPC server leaves raft running.
// Its connections are *tls.Conn, or *BlobConn for ProtoBlob.
type subListener struct {
	m      *Mux
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newSubListener(m *Mux) *subListener {
	return &subListener{m: m, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
	case <-l.m.ctx.Done():
	}
	return nil, net.ErrClosed
}

func (l *subListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *subListener) Addr() net.Addr { return l.m.Addr() }
