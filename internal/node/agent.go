package node

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/agent"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/network/view"
	"github.com/shoal-project/shoal/internal/store"
)

// runningAgent is the agent of this node while it is in a swarm, with the
// loop that follows the role the managers give the node.
type runningAgent struct {
	agent  *agent.Agent
	cancel context.CancelFunc
	done   chan struct{} // closed when the agent and the role loop ended
	// session is closed once the agent's first session began: the
	// managers have written what the node's agent reports (markReady).
	session chan struct{}
	// peerPort serves this node's images while it is a worker.
	peerPort workerPeerPort
}

// startAgent runs the agent until stop. The agent reaches the managers
// this node knows, its own first when it is one. When the managers say
// the node was removed, the node leaves the swarm.
func (n *Node) startAgent(ctx context.Context, mem *membership) *runningAgent {
	managers := slices.Clone(mem.Managers)
	tlsConf := n.tlsFor(clusterconn.ProtoGRPC)
	latestNode := newLatest[*store.Node]()
	wantedRoots := newLatest[swarm.TLSInfo]()
	session := make(chan struct{})
	var began sync.Once
	cfg := agent.Config{
		Executor: n.exec,
		Managers: func() []string { return managers },
		Dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return clusterconn.DialGRPC(ctx, addr, tlsConf)
		},
		NodeChanged: func(nd *store.Node) {
			latestNode.set(nd)
			began.Do(func() { close(session) })
		},
		TLSInfo:       n.tlsInfo,
		RootCAChanged: wantedRoots.set,
		Logs:          n.taskLogs(),
		Logger:        n.log.With("component", "agent"),
	}
	if e := n.cfg.Engine; e != nil && e.Dataplane != nil {
		dp := e.Dataplane
		cfg.TunnelKey = dp.PublicKey()
		cfg.PortStatus = dp.PortStatus
		cfg.NetworksChanged = func(v *view.Node) {
			if err := dp.SetView(ctx, v); err != nil {
				n.log.Warn("network view not fully applied", "err", err)
			}
		}
	}
	a := agent.New(cfg)
	actx, cancel := context.WithCancel(ctx)
	r := &runningAgent{agent: a, cancel: cancel, done: make(chan struct{}), session: session}
	if e := n.cfg.Engine; e != nil && e.Containers != nil {
		// Plain containers reach the swarm's attachable networks through
		// the agent's session; once it holds one, the attachments of
		// containers removed while the daemon was down go.
		e.SetSwarm(a)
		go func() {
			if r.waitSession(actx) {
				if err := e.PruneAttachments(actx); err != nil {
					n.log.Warn("remove the network attachments of containers that are gone", "err", err)
				}
			}
		}()
	}
	if mem.Role == "worker" {
		r.peerPort.start(n, mem.ListenAddr)
	}
	stopPeers := n.startImagePeers(actx, mem, a.Managers)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		n.followRole(actx, latestNode)
	}()
	go func() {
		defer wg.Done()
		n.keepCertificateFresh(actx, wantedRoots, a.Reconnect)
	}()
	go func() {
		defer wg.Done()
		err := a.Run(actx)
		switch {
		case errors.Is(err, agent.ErrNodeRemoved):
			n.log.Warn("this node was removed from the swarm: leaving it", "err", err)
			cancel()
			go n.removed(ctx, r)
		case err != nil && actx.Err() == nil:
			n.log.Error("agent stopped", "err", err)
		}
	}()
	go func() {
		wg.Wait()
		if e := n.cfg.Engine; e != nil && e.Containers != nil {
			e.SetSwarm(nil)
		}
		stopPeers()
		r.peerPort.stop()
		close(r.done)
	}()
	return r
}

// waitSession waits until the agent's first session began, ctx ends or
// the agent stops, and reports whether the session began.
func (r *runningAgent) waitSession(ctx context.Context) bool {
	select {
	case <-r.session:
		return true
	case <-ctx.Done():
	case <-r.done:
	}
	return false
}

// stop ends the agent's session and the role loop. Task containers keep
// running: a restarted agent adopts them.
func (r *runningAgent) stop() {
	r.cancel()
	<-r.done
}

// removed makes the node leave the swarm the managers removed it from,
// unless something else changed the membership meanwhile.
func (n *Node) removed(ctx context.Context, r *runningAgent) {
	if err := n.lockOp(ctx); err != nil {
		return
	}
	defer n.unlockOp()
	if _, _, a, _ := n.snapshot(); a != r {
		return
	}
	if err := n.forget(ctx); err != nil {
		n.log.Error("forget the swarm this node was removed from", "err", err)
	}
}

// latest holds the newest value a session brought (the node object, the
// roots the cluster wants) for a loop that acts on it; setting it never
// blocks the session.
type latest[T any] struct {
	mu    sync.Mutex
	value T // guarded by mu
	wake  chan struct{}
}

func newLatest[T any]() *latest[T] { return &latest[T]{wake: make(chan struct{}, 1)} }

func (l *latest[T]) set(v T) {
	l.mu.Lock()
	l.value = v
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *latest[T]) get() T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value
}
