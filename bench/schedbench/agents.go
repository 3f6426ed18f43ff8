package schedbench

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/agent"
	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/executor/fakeexec"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/store"
)

// agents is a dispatcher on a real cluster port and one agent per node,
// each with its own certificate and fake executor.
type agents struct {
	st     *store.Store
	disp   *dispatcher.Dispatcher
	srv    *grpc.Server
	mux    *clusterconn.Mux
	nodes  []agentNode
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type agentNode struct {
	id   string
	cert tls.Certificate
}

// startAgents issues the certificates, writes the node objects, and
// serves the dispatcher; the agents start once it leads (lead).
func startAgents(ctx context.Context, cfg Config, st *store.Store, rn *consensus.Node) (nodeSet, error) {
	root, err := ca.NewRootCA()
	if err != nil {
		return nil, err
	}
	managerCert, err := issue(root, identity.NewID(), ca.ManagerRole)
	if err != nil {
		return nil, err
	}
	mux, err := clusterconn.Listen("127.0.0.1:0", clusterconn.ServerTLS(root.Trust(), managerCert), cfg.Logger)
	if err != nil {
		return nil, err
	}
	a := &agents{st: st, mux: mux}
	a.disp = dispatcher.New(dispatcher.Config{Store: st, LeaderAddr: func() string { x, _ := rn.Leader(); return x }, Logger: cfg.Logger})
	a.srv = clusterconn.NewGRPCServer(dispatcher.Policy())
	a.disp.Register(a.srv)
	go a.srv.Serve(mux.GRPC())

	for i := range cfg.Nodes {
		id := identity.NewID()
		cert, err := issue(root, id, ca.WorkerRole)
		if err != nil {
			a.stop()
			return nil, err
		}
		a.nodes = append(a.nodes, agentNode{id: id, cert: cert})
		if i%1000 == 999 || i == cfg.Nodes-1 {
			batch := a.nodes[len(a.nodes)-(i%1000+1):]
			err := st.Update(ctx, func(tx *store.WriteTx) error {
				for _, n := range batch {
					if err := tx.Put(nodeObject(n.id)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				a.stop()
				return nil, fmt.Errorf("put nodes: %w", err)
			}
		}
	}

	actx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	addr := mux.Addr().String()
	for _, n := range a.nodes {
		conf := clusterconn.ClientTLS(root.Trust(), &n.cert, clusterconn.ProtoGRPC)
		ag := agent.New(agent.Config{
			Executor: fakeexec.New(fakeexec.Config{Hostname: "host-" + n.id[:8]}),
			Dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
				return clusterconn.DialGRPC(ctx, addr, func() *tls.Config { return conf })
			},
			Managers: func() []string { return []string{addr} },
			Logger:   cfg.Logger.With("node.id", n.id),
		})
		a.wg.Go(func() { ag.Run(actx) })
	}
	return a, nil
}

func issue(root *ca.RootCA, id string, role ca.Role) (tls.Certificate, error) {
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM, err := root.IssueNodeCert(csrPEM, id, role, "bench-cluster", 0)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func (a *agents) lead(ctx context.Context) {
	a.wg.Go(func() { a.disp.RunLeader(ctx) })
}

// ready waits until every node's agent holds a session.
func (a *agents) ready(ctx context.Context) error {
	for {
		n := 0
		a.st.View(func(tx store.ReadTx) {
			for _, node := range store.All[*store.Node](tx) {
				if node.Status.State == swarm.NodeStateReady {
					n++
				}
			}
		})
		if n == len(a.nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d agents connected: %w", n, len(a.nodes), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *agents) stop() {
	if a.cancel != nil {
		a.cancel()
	}
	a.srv.Stop()
	a.mux.Close()
	a.wg.Wait()
}
