package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/imagepeer"
	"github.com/shoal-project/shoal/internal/images"
)

// imageStore is the engine's image store, nil for a node without an
// engine (tests).
func (n *Node) imageStore() *images.Store {
	if n.cfg.Engine == nil {
		return nil
	}
	return n.cfg.Engine.Images
}

// dialNode connects to the cluster port of node nodeID at addr, checking
// that the certificate there is that node's.
func (n *Node) dialNode(ctx context.Context, nodeID, addr string) (*grpc.ClientConn, error) {
	return clusterconn.DialGRPC(ctx, addr, func() *tls.Config {
		k := n.keys.Load()
		if k == nil {
			return nil
		}
		return clusterconn.ClientTLSNode(k.trust, &k.cert, clusterconn.ProtoGRPC, nodeID)
	})
}

// dialBlob opens a blob connection to holder h: to the node it names,
// checked by its certificate as dialNode does, or to a manager when no
// node ID names it (imagepeer.Unannounced).
func (n *Node) dialBlob(ctx context.Context, h imagepeer.Holder) (net.Conn, error) {
	k := n.keys.Load()
	if k == nil {
		return nil, errNoKeys
	}
	conf := clusterconn.ClientTLS(k.trust, &k.cert, clusterconn.ProtoBlob)
	if h.NodeID != "" {
		conf = clusterconn.ClientTLSNode(k.trust, &k.cert, clusterconn.ProtoBlob, h.NodeID)
	}
	return clusterconn.DialBlob(ctx, h.Addr, conf)
}

// startImagePeers makes the node's images reachable by the swarm while
// its agent runs: it announces what it holds to the managers, and fetches
// what it lacks from the other nodes before a registry. It returns what
// undoes that.
func (n *Node) startImagePeers(ctx context.Context, mem *membership, managers func() []string) (stop func()) {
	im := n.imageStore()
	if im == nil {
		return func() {}
	}
	log := n.log.With("component", "imagepeer")
	im.SetPeers(&imagepeer.Client{
		Self:        mem.NodeID,
		Managers:    managers,
		DialManager: n.dialManager,
		DialNode: func(ctx context.Context, h imagepeer.Holder) (*grpc.ClientConn, error) {
			return n.dialNode(ctx, h.NodeID, h.Addr)
		},
		DialBlob: n.dialBlob,
		Images:   im,
		Logger:   log,
	})
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	ann := &imagepeer.Announcer{Images: im, Addr: mem.AdvertiseAddr, Managers: managers, Dial: n.dialManager, Logger: log}
	go func() {
		defer close(done)
		ann.Run(actx)
	}()
	return func() {
		im.SetPeers(nil)
		cancel()
		<-done
	}
}

var errNoKeys = errors.New("this node has no certificate")

// workerPeerPort is a worker's cluster port, which serves only the image
// peer service: managers serve it on theirs (startManager).
type workerPeerPort struct {
	mu  sync.Mutex
	mux *clusterconn.Mux // nil while not serving; guarded by mu
	srv *grpc.Server     // guarded by mu
}

// start opens the port on addr. A port that cannot be opened is logged:
// the node still fetches from others, and others fetch from the rest.
func (p *workerPeerPort) start(n *Node, addr string) {
	im := n.imageStore()
	if im == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mux != nil {
		return
	}
	// The configuration is read at every handshake, so a renewed
	// certificate serves at once.
	conf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			k := n.keys.Load()
			if k == nil {
				return nil, errNoKeys
			}
			c := clusterconn.ServerTLS(k.trust, k.cert)
			c.NextProtos = []string{clusterconn.ProtoGRPC, clusterconn.ProtoBlob}
			return c, nil
		},
	}
	mux, err := clusterconn.Listen(addr, conf, n.log.With("component", "imagepeer"))
	if err != nil {
		n.log.Warn("this worker cannot serve its images to other nodes", "addr", addr, "err", err)
		return
	}
	srv := clusterconn.NewGRPCServer(imagepeer.PeerPolicy())
	peer := imagepeer.NewServer(im)
	peer.Register(srv)
	go srv.Serve(mux.GRPC())
	// Both return when the port closes.
	go peer.ServeBlobs(mux.Blob(), nil)
	p.mux, p.srv = mux, srv
}

// stop closes the port, before the node becomes a manager whose own
// cluster port takes the address.
func (p *workerPeerPort) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mux == nil {
		return
	}
	p.srv.Stop()
	p.mux.Close()
	p.mux, p.srv = nil, nil
}

// PinImage returns ref pinned to the digest of the image this node holds
// under that name or, when it holds none, the digest the swarm's nodes
// hold it as (the manager's index), as dockerd pins a registry's digest;
// ok is false when ref is pinned already or no node holds it.
func (n *Node) PinImage(ctx context.Context, ref string) (pinned string, ok bool, err error) {
	if im := n.imageStore(); im != nil {
		if pinned, ok, err := im.LocalDigest(ctx, ref); err != nil || ok {
			return pinned, ok, err
		}
	}
	_, mgr, _, _ := n.snapshot()
	if mgr == nil {
		return "", false, nil
	}
	return mgr.images.PinRef(ref)
}
