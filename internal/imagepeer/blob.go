package imagepeer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/metrics"
)

// Blobs travel on connections of their own (clusterconn.ProtoBlob), one
// per blob, beside the gRPC service that resolves images: the fetching
// node sends a FetchRequest, the holder answers with a blobHeader and,
// when it serves, the blob's bytes from the offset to the end, then
// closes. Both messages are JSON behind a 4-byte length. No HTTP/2
// framing or flow control sits between the holder's content store and
// TLS, and the holder writes a chunk in one system call.

// blobHeader is the holder's answer: the blob's whole size, or why it
// does not serve it.
type blobHeader struct {
	Size  int64        `json:",omitempty"`
	Kind  errdefs.Kind `json:",omitempty"`
	Error string       `json:",omitempty"`
}

// maxFrame bounds a request or header: a digest, an offset, a message.
const maxFrame = 4 << 10

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(frame, b...))
	return err
}

func readFrame(r io.Reader, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return errdefs.TooLarge("a blob protocol message of %d bytes; the most is %d", size, maxFrame)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// ServeBlobs serves the blob connections ln accepts (clusterconn's
// Mux.Blob()) until it is closed, then closes those still being served.
// A caller may fetch when the policy lets it call MethodFetch (a node
// certificate of the swarm, as the gRPC services ask) and allow, when not
// nil, accepts it (a manager refuses nodes removed from the swarm).
func (s *Server) ServeBlobs(ln net.Listener, allow func(ca.Identity) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Go(func() {
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			defer conn.Close()
			s.serveBlob(ctx, conn, allow)
		})
	}
}

// serveBlob answers one blob connection.
func (s *Server) serveBlob(ctx context.Context, conn net.Conn, allow func(ca.Identity) error) {
	conn.SetDeadline(time.Now().Add(limits.PeerIdleTimeout))
	if err := authorizeBlob(conn, allow); err != nil {
		refuse(conn, err)
		return
	}
	req := new(FetchRequest)
	if err := readFrame(conn, req); err != nil {
		refuse(conn, errdefs.Invalid("blob request: %v", err))
		return
	}
	if err := req.Digest.Validate(); err != nil {
		refuse(conn, errdefs.Invalid("Digest: %v", err))
		return
	}
	if req.Offset < 0 {
		refuse(conn, errdefs.Invalid("Offset: %d is negative", req.Offset))
		return
	}
	// The fetching node sends nothing more: a read that returns means it
	// hung up, and ends the wait for a slot or the sending.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn.SetReadDeadline(time.Time{})
	go func() {
		conn.Read(make([]byte, 1))
		cancel()
	}()
	if err := s.takeSlot(); err != nil {
		refuse(conn, err)
		return
	}
	defer func() { <-s.serving }()
	ra, err := s.content.Blob(ctx, req.Digest)
	if err != nil {
		refuse(conn, err)
		return
	}
	defer ra.Close()
	if req.Offset > ra.Size() {
		refuse(conn, errdefs.Invalid("Offset: %d is past the blob's %d bytes", req.Offset, ra.Size()))
		return
	}
	conn.SetWriteDeadline(time.Now().Add(limits.PeerIdleTimeout))
	if err := writeFrame(conn, blobHeader{Size: ra.Size()}); err != nil {
		return
	}
	buf := make([]byte, limits.PeerChunkSize)
	for off := req.Offset; off < ra.Size() && ctx.Err() == nil; {
		n, _ := ra.ReadAt(buf[:min(int64(len(buf)), ra.Size()-off)], off)
		if n == 0 {
			// A read error: the fetching node sees the blob end early,
			// and tries again.
			return
		}
		conn.SetWriteDeadline(time.Now().Add(limits.PeerIdleTimeout))
		if _, err := conn.Write(buf[:n]); err != nil {
			return
		}
		off += int64(n)
		metrics.ImagePeerServedBytes.Add(float64(n))
	}
}

// takeSlot takes a serving slot, or refuses at once, as busy, when all
// are taken, rather than queueing the caller: in a burst, the nodes that
// already fetched the image hold it too, and the caller asks the managers
// for them. (Waiting 100 ms for a slot first spread less: more of each
// image came from the first holder; docs/BENCHMARKS.md, issue 12.)
func (s *Server) takeSlot() error {
	select {
	case s.serving <- struct{}{}:
		return nil
	default:
		return errdefs.Unavailable("%s: all %d serving slots are taken", busyMsg, cap(s.serving))
	}
}

// busyMsg starts a holder's refusal when its slots are all taken; the
// fetching node recognises it (with the kind Unavailable) and asks the
// managers for other holders.
const busyMsg = "busy"

// ErrBusy is in the chain of an error from a holder whose serving slots
// were all taken: the fetch may succeed from another holder, or later.
var ErrBusy = errors.New("the holder is busy serving other nodes")

// authorizeBlob applies the peer service's policy for MethodFetch, and
// allow, to the certificate the caller's TLS handshake verified.
func authorizeBlob(conn net.Conn, allow func(ca.Identity) error) error {
	tc, ok := conn.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return errdefs.Forbidden("a blob connection that is not TLS (%T)", conn)
	}
	var cert *x509.Certificate
	if chains := tc.ConnectionState().VerifiedChains; len(chains) > 0 && len(chains[0]) > 0 {
		cert = chains[0][0]
	}
	if err := ca.Authorize(PeerPolicy(), MethodFetch, cert); err != nil {
		return errdefs.Forbidden("%s", status.Convert(err).Message())
	}
	if allow == nil {
		return nil
	}
	id, err := ca.IdentityFromCert(cert)
	if err != nil {
		return err
	}
	return allow(id)
}

// refuse answers with why the blob is not served.
func refuse(conn net.Conn, err error) {
	conn.SetWriteDeadline(time.Now().Add(limits.PeerIdleTimeout))
	writeFrame(conn, blobHeader{Kind: errdefs.KindOf(err), Error: err.Error()})
}

// openBlob sends req on conn and reads the holder's header: the blob's
// bytes follow. A refusal keeps its kind (NotFound: the holder no longer
// has it; ErrBusy: every serving slot of the holder was taken).
func openBlob(conn net.Conn, req *FetchRequest, size int64) error {
	conn.SetWriteDeadline(time.Now().Add(limits.PeerIdleTimeout))
	if err := writeFrame(conn, req); err != nil {
		return fmt.Errorf("blob %s: send the request: %w", req.Digest, err)
	}
	var h blobHeader
	if err := readFrame(conn, &h); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("the holder closed the connection (does it trust this node's certificate?): %w", err)
		}
		return fmt.Errorf("blob %s: %w", req.Digest, err)
	}
	if h.Error != "" {
		e := &errdefs.Error{Kind: h.Kind, Msg: fmt.Sprintf("blob %s: the holder says: %s", req.Digest, h.Error)}
		if h.Kind == errdefs.KindUnavailable && strings.HasPrefix(h.Error, busyMsg+":") {
			e.Err = ErrBusy
		}
		return e
	}
	if h.Size != size {
		return errdefs.Invalid("blob %s: the holder says it has %d bytes, its parent says %d", req.Digest, h.Size, size)
	}
	return nil
}
