package node

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/clusterconn"
)

const (
	// renewCheckEvery is how often a node looks at its certificate's age.
	renewCheckEvery = time.Minute
	// rootRetryAfter is how soon a failed move to the cluster's roots is
	// tried again: a root rotation waits for every node.
	rootRetryAfter = 2 * time.Second
)

// keepCertificateFresh keeps this node's keys as the cluster wants them
// until ctx ends. It trusts the roots the cluster trusts (wanted, from the
// sessions), and renews its certificate once it is past half its life
// (ca.NeedsRenewal) — so `swarm update --cert-expiry` can be as short as
// an hour without nodes ever holding an expired certificate — or when it
// comes from another issuer than the cluster's, which is how a root
// rotation reaches every node. After a change it calls reconnect, so the
// next session reports the new keys.
func (n *Node) keepCertificateFresh(ctx context.Context, wanted *latest[swarm.TLSInfo], reconnect func()) {
	t := time.NewTicker(renewCheckEvery)
	defer t.Stop()
	var retry <-chan time.Time
	for {
		changed, err := n.followRoots(ctx, wanted.get())
		if changed {
			reconnect()
		}
		retry = nil
		if err != nil && ctx.Err() == nil {
			n.log.Warn("bring the node's certificate up to date; trying again", "err", err)
			retry = time.After(rootRetryAfter)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wanted.wake:
		case <-retry:
		}
	}
}

// followRoots adopts the roots in want (when a session told any) and
// renews the certificate when it is old or from another issuer than want's.
// It reports whether the node's keys changed.
func (n *Node) followRoots(ctx context.Context, want swarm.TLSInfo) (changed bool, err error) {
	k := n.keys.Load()
	if k == nil || k.cert.Leaf == nil {
		return false, nil
	}
	if want.TrustRoot != "" && want.TrustRoot != string(k.trust.PEM()) {
		trust, err := ca.ParseTrust([]byte(want.TrustRoot))
		if err != nil {
			return false, err
		}
		if err := n.adoptTrust(ctx, trust); err != nil {
			return false, err
		}
		changed = true
	}
	if !ca.NeedsRenewal(k.cert.Leaf, clock.Now()) && !otherIssuer(k.tlsInfo(), want) {
		return changed, nil
	}
	if err := n.renewCertificate(ctx); err != nil {
		return changed, err
	}
	if k := n.keys.Load(); k != nil && otherIssuer(k.tlsInfo(), want) {
		// A manager whose store is behind the rotation signed it.
		return true, errors.New("the renewed certificate does not come from the cluster's new root CA yet")
	}
	return true, nil
}

// otherIssuer reports whether the node's certificate comes from another
// issuer than the cluster wants. A session that said nothing of its
// roots wants nothing.
func otherIssuer(have, want swarm.TLSInfo) bool {
	if len(want.CertIssuerPublicKey) == 0 {
		return false
	}
	return !bytes.Equal(have.CertIssuerSubject, want.CertIssuerSubject) || !bytes.Equal(have.CertIssuerPublicKey, want.CertIssuerPublicKey)
}

// adoptTrust makes the node trust exactly the roots in trust, on disk and
// for every new cluster connection.
func (n *Node) adoptTrust(ctx context.Context, trust *ca.Trust) error {
	if err := n.lockOp(ctx); err != nil {
		return err
	}
	defer n.unlockOp()
	mem, mgr, _, locked := n.snapshot()
	cur := n.keys.Load()
	if mem == nil || locked || cur == nil {
		return nil
	}
	if err := n.installKeys(cur.withTrust(trust), mgr); err != nil {
		return err
	}
	n.log.Info("trusted root CAs changed", "node.id", mem.NodeID, "roots", len(trust.Roots()))
	return nil
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
	if err := n.installKeys(keys, mgr); err != nil {
		return err
	}
	n.log.Info("node certificate renewed", "node.id", mem.NodeID, "expires", keys.cert.Leaf.NotAfter)
	return nil
}

// installKeys makes keys the node's own: on disk, sealed as the node's
// keys are; for its new outgoing connections; and, on a manager (mgr not
// nil), for the cluster port. Call it holding the membership lock.
func (n *Node) installKeys(keys *nodeKeys, mgr *manager) error {
	if err := keys.save(n.keyStore(n.kek)); err != nil {
		return err
	}
	n.keys.Store(keys)
	if mgr != nil {
		mgr.mux.SetTLSConfig(clusterconn.ServerTLS(keys.trust, keys.cert))
	}
	return nil
}

// tlsInfo is what the node reports of its keys (see agent.Config.TLSInfo).
func (n *Node) tlsInfo() swarm.TLSInfo {
	k := n.keys.Load()
	if k == nil {
		return swarm.TLSInfo{}
	}
	return k.tlsInfo()
}
