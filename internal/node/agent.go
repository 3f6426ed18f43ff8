package node

import (
	"context"

	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/agent"
	"github.com/shoal-project/shoal/internal/clusterconn"
)

// runningAgent is the agent of this node while it is in a swarm.
type runningAgent struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startAgent runs the agent until stop. The agent reaches the managers
// this node knows, its own first when it is one.
func (n *Node) startAgent(ctx context.Context) *runningAgent {
	managers := append([]string(nil), n.mem.Managers...)
	tlsConf := n.tlsFor(clusterconn.ProtoGRPC)
	a := agent.New(agent.Config{
		Executor: n.cfg.Engine.Executor,
		Managers: func() []string { return managers },
		Dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return clusterconn.DialGRPC(ctx, addr, tlsConf)
		},
		Logger: n.log.With("component", "agent"),
	})
	actx, cancel := context.WithCancel(ctx)
	r := &runningAgent{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := a.Run(actx); err != nil && actx.Err() == nil {
			n.log.Error("agent stopped", "err", err)
		}
	}()
	return r
}

// stop ends the agent's session. Task containers keep running: a restarted
// agent adopts them.
func (r *runningAgent) stop() {
	r.cancel()
	<-r.done
}
