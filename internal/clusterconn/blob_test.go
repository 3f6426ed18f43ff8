package clusterconn_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/rpc/rpctest"
)

// A blob connection reaches the blob listener with the caller's verified
// certificate, carries megabytes intact in large writes, and leaves the
// gRPC service of the same port as it was.
func TestBlobSharesThePort(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	mux := clusterconntest.Listen(t, root, manager)
	clusterconntest.ServeGRPC(t, mux, testPolicy, registerEcho)

	blob := make([]byte, 5<<20+3)
	for i := range blob {
		blob[i] = byte(rand.N(256))
	}
	served := make(chan error, 1)
	go func() {
		c, err := mux.Blob().Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		bc, ok := c.(*clusterconn.BlobConn)
		if !ok {
			t.Errorf("the blob listener gave a %T, want a *clusterconn.BlobConn", c)
			served <- nil
			return
		}
		if chains := bc.ConnectionState().VerifiedChains; len(chains) == 0 || chains[0][0].Subject.CommonName != worker.ID {
			t.Errorf("the blob connection's verified chains %v do not name the worker %s", chains, worker.ID)
		}
		for b := blob; len(b) > 0; {
			n, err := bc.Write(b[:min(len(b), 1<<20)])
			if err != nil {
				served <- err
				return
			}
			b = b[n:]
		}
		served <- nil
	}()

	conf := clusterconn.ClientTLSNode(root.Trust(), &worker.Cert, clusterconn.ProtoBlob, manager.ID)
	c, err := clusterconn.DialBlob(t.Context(), mux.Addr().String(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the blob: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve the blob: %v", err)
	}
	if !bytes.Equal(got, blob) {
		t.Errorf("got %d bytes, want the %d sent, the same", len(got), len(blob))
	}

	cc := clusterconntest.Dial(t, root, mux.Addr().String(), &worker)
	if _, err := rpctest.Echo(t.Context(), cc, &swarm.Service{ID: "after a blob"}); err != nil {
		t.Errorf("gRPC call on the port that served a blob: %v", err)
	}
}

// A port that serves no blobs closes their connections at once, and keeps
// serving gRPC.
func TestBlobListenerClosed(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, manager)
	clusterconntest.ServeGRPC(t, mux, testPolicy, registerEcho)
	mux.Blob().Close()

	conf := clusterconn.ClientTLSNode(root.Trust(), &manager.Cert, clusterconn.ProtoBlob, manager.ID)
	c, err := clusterconn.DialBlob(t.Context(), mux.Addr().String(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read from a port that serves no blobs: %v, want EOF", err)
	}
	cc := clusterconntest.Dial(t, root, mux.Addr().String(), nil)
	if _, err := rpctest.Echo(t.Context(), cc, &swarm.Service{ID: "blobs closed"}); err != nil {
		t.Errorf("gRPC call: %v", err)
	}
}

// A server that does not speak the blob protocol (a node of an older
// version) is refused with a reason.
func TestDialBlobWithoutTheProtocol(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	conf := clusterconn.ServerTLS(root.Trust(), manager.Cert)
	conf.NextProtos = []string{clusterconn.ProtoGRPC, clusterconn.ProtoRaft}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, err = clusterconn.DialBlob(t.Context(), ln.Addr().String(), clusterconn.ClientTLSNode(root.Trust(), &manager.Cert, clusterconn.ProtoBlob, manager.ID))
	if !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Errorf("DialBlob to a server without the blob protocol: %v, want unavailable", err)
	}
}
