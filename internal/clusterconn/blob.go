package clusterconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"slices"
	"sync"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// blobReadBuffer is how much a fetching node reads from the socket at
// once under TLS, which otherwise reads one record (16 KiB) per call.
const blobReadBuffer = 256 << 10

// BlobConn is a connection of the blob protocol as the cluster port
// hands it out: TLS whose Write sends the records of one call in one
// system call. crypto/tls writes every record of at most 16 KiB with its
// own write, so a holder sending 200 MB made 13,000 system calls and TCP
// sends; with 1 MiB writes it makes 200.
type BlobConn struct {
	*tls.Conn
	raw *batchConn
}

// Write encrypts p and sends it in one write to the socket.
func (c *BlobConn) Write(p []byte) (int, error) {
	c.raw.hold(len(p))
	n, err := c.Conn.Write(p)
	if ferr := c.raw.flush(); ferr != nil {
		return 0, ferr
	}
	return n, err
}

// batchConn is the TCP connection under every TLS connection of the
// cluster port: it passes writes through, except between hold and flush,
// when it keeps them to send them in one.
type batchConn struct {
	net.Conn

	mu      sync.Mutex
	holding bool   // guarded by mu
	buf     []byte // guarded by mu
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// hold keeps writes until flush, with room for n bytes of plaintext in
// TLS records (22 bytes of header, type and tag to every 16 KiB).
func (c *batchConn) hold(n int) {
	c.mu.Lock()
	c.holding = true
	c.buf = slices.Grow(c.buf, n+n/512+64)
	c.mu.Unlock()
}

// flush sends what was kept since hold, and passes writes through again.
func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// DialBlob opens a blob connection to the cluster port at addr with conf
// (ClientTLSNode: the server must be the node chosen), reading the socket
// in large pieces. It fails with errdefs.Unavailable saying why.
func DialBlob(ctx context.Context, addr string, conf *tls.Config) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, errdefs.Unavailable("cannot connect to %s: %w", addr, err)
	}
	conf = conf.Clone()
	conf.NextProtos = []string{ProtoBlob}
	tc := tls.Client(&bufferedConn{Conn: raw, r: bufio.NewReaderSize(raw, blobReadBuffer)}, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, errdefs.Unavailable("cannot connect to %s: %w", addr, err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != ProtoBlob {
		tc.Close()
		return nil, errdefs.Unavailable("%s does not serve image blobs (negotiated %q)", addr, p)
	}
	return tc, nil
}

// bufferedConn reads its connection through r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
