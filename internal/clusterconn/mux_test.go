package clusterconn

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/ca"
)

func testServerTLS(t *testing.T) (*ca.RootCA, *tls.Config) {
	t.Helper()
	root, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.IssueNodeCert(csrPEM, "m1", ca.ManagerRole, "c1", 0)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return root, ServerTLS(root.Trust(), cert)
}

func testListen(t *testing.T, conf *tls.Config, timeout time.Duration) *Mux {
	t.Helper()
	m, err := listen("127.0.0.1:0", conf, nil, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// With a handshake timeout far beyond the test's, a mux that handshakes in
// its accept loop would never get to the second client.
func TestSilentClientBlocksNoOne(t *testing.T) {
	root, conf := testServerTLS(t)
	m := testListen(t, conf, time.Hour)

	silent, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := m.Raft().Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := tls.Dial("tcp", m.Addr().String(), ClientTLS(root.Trust(), nil, ProtoRaft))
	if err != nil {
		t.Fatalf("dial while another client is silent: %v", err)
	}
	defer c.Close()
	sc, ok := <-accepted
	if !ok {
		t.Fatal("raft listener closed without a connection")
	}
	sc.Close()
}

func TestSilentClientDropped(t *testing.T) {
	_, conf := testServerTLS(t)
	m := testListen(t, conf, 50*time.Millisecond)

	silent, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if n, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from the server, want the connection closed", n)
	}
}

// Stopping one protocol (a gRPC server's Stop closes its listener) must not
// stop the other.
func TestSubListenerCloseIsolated(t *testing.T) {
	root, conf := testServerTLS(t)
	m := testListen(t, conf, time.Hour)
	m.GRPC().Close()
	if _, err := m.GRPC().Accept(); err == nil {
		t.Fatal("Accept on a closed gRPC listener succeeded")
	}

	go func() {
		c, err := tls.Dial("tcp", m.Addr().String(), ClientTLS(root.Trust(), nil, ProtoRaft))
		if err == nil {
			c.Handshake()
			c.Close()
		}
	}()
	c, err := m.Raft().Accept()
	if err != nil {
		t.Fatalf("raft Accept after closing the gRPC listener: %v", err)
	}
	c.Close()
}

func TestCloseEndsAccept(t *testing.T) {
	_, conf := testServerTLS(t)
	m, err := listen("127.0.0.1:0", conf, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A handshake in progress must not hold Close up.
	silent, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, l := range map[string]net.Listener{"grpc": m.GRPC(), "raft": m.Raft(), "blob": m.Blob()} {
		if _, err := l.Accept(); err == nil {
			t.Errorf("%s Accept after Close succeeded", name)
		}
	}
	if _, err := net.Dial("tcp", m.Addr().String()); err == nil {
		t.Error("dial after Close succeeded")
	}
}

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// A BlobConn sends a MiB, 64 TLS records, in one write to the socket.
func TestBlobConnWritesOnce(t *testing.T) {
	_, conf := testServerTLS(t)
	client, server := net.Pipe()
	defer client.Close()
	counted := &countingConn{Conn: server}
	raw := &batchConn{Conn: counted}
	tc := tls.Server(raw, conf)
	defer tc.Close()
	go io.Copy(io.Discard, tls.Client(client, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ProtoBlob}}))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	bc := &BlobConn{Conn: tc, raw: raw}
	before := counted.writes
	if n, err := bc.Write(make([]byte, 1<<20)); n != 1<<20 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if w := counted.writes - before; w != 1 {
		t.Errorf("a MiB took %d writes to the socket, want 1", w)
	}
}
