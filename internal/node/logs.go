package node

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/apiserver"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// Logs reads the output of swarm tasks for `docker service logs`, from
// every node that ran them: the leader's log broker asks the nodes' agents
// and gathers their lines (see package dispatcher). Any manager may serve
// it; tasks on nodes that are down are skipped.
func (n *Node) Logs(ctx context.Context, sel apiserver.LogSelector, opts containerdexec.LogOptions,
	write func(taskID, nodeID string, stream int, ts time.Time, line []byte) error) error {
	_, mgr, _, _ := n.snapshot()
	if mgr == nil {
		return errNotManager
	}
	leader, _ := mgr.raft.Leader()
	if leader == "" {
		return errdefs.Unavailable("the swarm has no leader: task logs cannot be read now")
	}
	req := &dispatcher.SubscribeLogsRequest{
		Selector: dispatcher.LogSelector{ServiceID: sel.ServiceID, TaskIDs: sel.TaskIDs},
		Options: dispatcher.LogOptions{
			Stdout: opts.Stdout,
			Stderr: opts.Stderr,
			Follow: opts.Follow,
			Tail:   opts.Tail,
			Since:  opts.Since,
		},
	}
	tlsConf := n.tlsFor(clusterconn.ProtoGRPC)
	dial := func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
		return clusterconn.DialGRPC(ctx, addr, tlsConf)
	}
	return dispatcher.ReadLogs(ctx, dial, leader, req, func(m dispatcher.LogMessage) error {
		return write(m.TaskID, m.NodeID, m.Stream, m.Time, m.Line)
	})
}
