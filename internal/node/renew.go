package node

import (
	"context"
	"time"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
)

// renewCheckEvery is how often a node looks at its certificate's age.
const renewCheckEvery = time.Minute

// keepCertificateFresh renews this node's certificate once it is past half
// its life (ca.NeedsRenewal), so `swarm update --cert-expiry` can be as
// short as an hour without nodes ever holding an expired certificate. It
// runs beside the agent until ctx ends; a failed renewal is retried at the
// next check.
func (n *Node) keepCertificateFresh(ctx context.Context) {
	t := time.NewTicker(renewCheckEvery)
	defer t.Stop()
	for {
		if k := n.keys.Load(); k != nil && k.cert.Leaf != nil && ca.NeedsRenewal(k.cert.Leaf, time.Now()) {
			if err := n.renewCertificate(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("renew the node certificate; trying again later", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renewCertificate replaces the node's certificate with a new one for its
// current role, from any manager's CA (its own first when it is one), and
// serves new cluster connections with it. Open connections keep the old
// one until they reconnect; it stays valid until it expires.
func (n *Node) renewCertificate(ctx context.Context) error {
	if err := n.lockOp(ctx); err != nil {
		return err
	}
	defer n.unlockOp()
	mem, mgr, a, locked := n.snapshot()
	if mem == nil || locked {
		return nil
	}
	role := ca.WorkerRole
	if mem.Role == "manager" {
		role = ca.ManagerRole
	}
	keys, err := n.renew(ctx, mem, n.managerAddrs(mem, a), role)
	if err != nil {
		return err
	}
	if err := keys.save(n.keyStore(n.kek)); err != nil {
		return err
	}
	n.keys.Store(keys)
	if mgr != nil {
		mgr.mux.SetTLSConfig(clusterconn.ServerTLS(keys.root, keys.cert))
	}
	n.log.Info("node certificate renewed", "node.id", mem.NodeID, "expires", keys.cert.Leaf.NotAfter)
	return nil
}
