package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/caserver"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clustermetrics"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/forward"
	"github.com/shoal-project/shoal/internal/imagepeer"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/manager/controller/leader"
	"github.com/shoal-project/shoal/internal/raftmembers"
	"github.com/shoal-project/shoal/internal/store"
)

// managerConfig is what a manager needs to start.
type managerConfig struct {
	dir       string // the swarm directory; raft state goes in dir/raft
	mem       *membership
	keys      *nodeKeys
	dek       []byte // encrypts the raft data at rest; nil for none
	bootstrap bool   // a new swarm: make this node the only raft member
	// join, when set, asks the leader to add this manager to raft; it
	// runs once this manager serves raft, before waiting for a leader.
	join      func(ctx context.Context) error
	clientTLS func(proto string) func() *tls.Config
	// cert is the node's current certificate, which the CA presents to
	// external CAs.
	cert func() *tls.Certificate
	// api serves forwarded writes on the leader.
	api http.Handler
	// images are the node's, which the manager serves to other nodes; nil
	// for a node without an engine.
	images *images.Store
	log    *slog.Logger
}

func (n *Node) managerConfig(mem *membership, dek []byte) managerConfig {
	return managerConfig{
		dir:       n.dir,
		mem:       mem,
		keys:      n.keys.Load(),
		dek:       dek,
		clientTLS: n.tlsFor,
		cert:      n.currentCert,
		api:       n.api,
		images:    n.imageStore(),
		log:       n.log.With("component", "manager"),
	}
}

// startManager starts a manager and keeps its secrets at rest sealed as
// the swarm's autolock asks.
func (n *Node) startManager(ctx context.Context, cfg managerConfig) (*manager, error) {
	m, err := startManager(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m.goRun(func(ctx context.Context) { n.followUnlockKey(ctx, m.store, cfg.dek) })
	if n.cfg.Events != nil {
		m.goRun(func(ctx context.Context) { n.cfg.Events.WatchStore(ctx, m.store) })
	}
	m.goRun(func(ctx context.Context) { clustermetrics.Watch(ctx, m.store) })
	m.goRun(func(ctx context.Context) { clustermetrics.WatchLeader(ctx, m.raft.Raft()) })
	return m, nil
}

// manager is a running manager: the cluster port, raft, the store, the
// dispatcher and, while leader, the controllers.
type manager struct {
	store   *store.Store
	raft    *consensus.Node
	mux     *clusterconn.Mux
	grpc    *grpc.Server
	control *controlapi.API
	// leaderConn is the connection to the leader that reads and forwarded
	// writes share.
	leaderConn connCache
	// images says which nodes hold which images.
	images *imagepeer.Index

	ctx    context.Context // ends when the manager stops
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startManager(ctx context.Context, cfg managerConfig) (m *manager, err error) {
	mux, err := clusterconn.Listen(cfg.mem.ListenAddr, clusterconn.ServerTLS(cfg.keys.trust, cfg.keys.cert), cfg.log)
	if err != nil {
		return nil, fmt.Errorf("listen on the cluster port %s: %w", cfg.mem.ListenAddr, err)
	}
	defer func() {
		if err != nil {
			mux.Close()
		}
	}()
	stream, err := clusterconn.NewRaftStreamLayer(mux, cfg.mem.AdvertiseAddr, cfg.clientTLS(clusterconn.ProtoRaft))
	if err != nil {
		return nil, err
	}
	// Set before the transport accepts: a removed manager's certificate
	// stays valid until it expires.
	st := store.New()
	stream.SetPeerCheck(caserver.NotRemoved(st))
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
	})
	rn, err := consensus.Open(consensus.Config{
		Dir:       raftDir(cfg.dir),
		LocalID:   cfg.mem.NodeID,
		Transport: trans,
		DEK:       cfg.dek,
		Logger:    cfg.log.With("component", "raft"),
	}, st)
	if err != nil {
		return nil, err
	}
	if cfg.bootstrap {
		if err := rn.Bootstrap(); err != nil {
			rn.Shutdown()
			return nil, fmt.Errorf("bootstrap raft: %w", err)
		}
	}
	control := controlapi.New(st)
	disp := dispatcher.New(dispatcher.Config{
		Store:       st,
		Attachments: control,
		LeaderAddr:  func() string { a, _ := rn.Leader(); return a },
		Logger:      cfg.log.With("component", "dispatcher"),
	})
	refuseUnary, refuseStream := caserver.RefuseRemoved(st)
	srv := clusterconn.NewGRPCServer(mergePolicies(dispatcher.Policy(), caserver.Policy(), raftmembers.Policy(), forward.Policy(), imagepeer.Policy()),
		append(forward.ServerOptions(), grpc.ChainUnaryInterceptor(refuseUnary), grpc.ChainStreamInterceptor(refuseStream))...)
	disp.Register(srv)
	caserver.New(st, cfg.log.With("component", "ca")).WithLeader(func() (string, bool) {
		addr, id := rn.Leader()
		return addr, id == cfg.mem.NodeID
	}).WithClientCert(cfg.cert).Register(srv)
	raftmembers.New(rn, st).Register(srv)
	forward.NewServer(cfg.api, st.Index, rn.ReadIndex).Register(srv)
	index := imagepeer.NewIndex()
	index.Register(srv)
	if cfg.images != nil {
		peer := imagepeer.NewServer(cfg.images)
		peer.Register(srv)
		// Returns when the port closes. A removed node is refused, as
		// on the gRPC services.
		go peer.ServeBlobs(mux.Blob(), caserver.NotRemoved(st))
	} else {
		mux.Blob().Close()
	}
	go srv.Serve(mux.GRPC())
	fail := func(err error) (*manager, error) {
		srv.Stop()
		rn.Shutdown()
		return nil, err
	}
	// A new member waits until it is part of a group with a leader; a
	// restarted one does not (it may have no quorum to come back to).
	if cfg.bootstrap || cfg.join != nil {
		waitCtx, cancelWait := context.WithTimeout(ctx, 30*time.Second)
		defer cancelWait()
		if cfg.join != nil {
			if err := cfg.join(waitCtx); err != nil {
				return fail(err)
			}
		}
		if err := rn.WaitLeader(waitCtx); err != nil {
			return fail(err)
		}
		if cfg.join != nil {
			// A new member serves its control API once it holds the swarm.
			if err := waitForCluster(waitCtx, st); err != nil {
				return fail(err)
			}
		}
	}

	mctx, cancel := context.WithCancel(ctx)
	m = &manager{store: st, raft: rn, mux: mux, grpc: srv, control: control, images: index, ctx: mctx, cancel: cancel}
	m.goRun(func(mctx context.Context) { followRaftSpec(mctx, rn, st, cfg.log) })
	m.goRun(func(mctx context.Context) {
		rn.RunWhileLeader(mctx, func(lctx context.Context) {
			runTogether(lctx,
				disp.RunLeader,
				func(ctx context.Context) { trackMembers(ctx, rn, st, cfg.mem.NodeID, cfg.log) },
				func(ctx context.Context) { runControllers(ctx, st, cfg.log) })
		})
	})
	return m, nil
}

// waitForCluster waits until the store holds the cluster object, that is
// until raft brought this new member the swarm's state.
func waitForCluster(ctx context.Context, st *store.Store) error {
	sub := st.Subscribe()
	defer sub.Close()
	for {
		var c *store.Cluster
		st.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
		if c != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errdefs.Unavailable("the swarm's state did not reach this manager: %w", ctx.Err())
		case <-sub.Wake():
			sub.Drain()
		}
	}
}

// onlyMember reports whether this manager, id, is the raft group's only
// member: the last manager, whom no leader can take out.
func (m *manager) onlyMember(id string) bool {
	cf := m.raft.Raft().GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	s := cf.Configuration().Servers
	return len(s) == 1 && string(s[0].ID) == id
}

// goRun runs fn until the manager stops.
func (m *manager) goRun(fn func(ctx context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn(m.ctx)
	}()
}

func mergePolicies(ps ...ca.Policy) ca.Policy {
	out := ca.Policy{}
	for _, p := range ps {
		maps.Copy(out, p)
	}
	return out
}

// stop stops the manager's parts; raft's state stays on disk.
func (m *manager) stop() {
	m.cancel()
	m.grpc.Stop()
	m.mux.Close()
	m.wg.Wait()
	m.leaderConn.close()
	m.raft.Shutdown()
}

// runTogether runs parts until ctx ends or one of them returns, then ends
// the others and waits for them: a leader's work runs whole or not at all,
// and consensus.RunWhileLeader starts work that returned while its term
// lasts again.
func runTogether(ctx context.Context, parts ...func(context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() {
			defer cancel()
			p(ctx)
		})
	}
	wg.Wait()
}

// runControllers runs the leader's controllers until ctx ends.
func runControllers(ctx context.Context, st *store.Store, log *slog.Logger) {
	if err := leader.New(st, log.With("component", "controllers"), leader.Config{}).Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("controllers stopped", "err", err)
	}
}
