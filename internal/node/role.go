package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/caserver"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/raftmembers"
	"github.com/shoal-project/shoal/internal/store"
)

// followRole makes this node the role its node object says, each time a
// session brings a new version of it, until ctx ends. A change that
// fails (no leader for a moment, a CA that has not seen the promotion
// yet) is tried again.
func (n *Node) followRole(ctx context.Context, latest *latest[*store.Node]) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-latest.wake:
		case <-retry:
		}
		retry = nil
		nd := latest.get()
		if nd == nil {
			continue
		}
		if err := n.changeRole(ctx, nd); err != nil && ctx.Err() == nil {
			n.log.Warn("role change failed; trying again", "role", nd.Spec.Role, "err", err)
			retry = time.After(2 * time.Second)
		}
	}
}

// wantRole is the membership role of a node object.
func wantRole(nd *store.Node) string {
	if nd.Spec.Role == swarm.NodeRoleManager {
		return "manager"
	}
	return "worker"
}

// changeRole promotes or demotes this node when nd asks for another role
// than it has.
func (n *Node) changeRole(ctx context.Context, nd *store.Node) error {
	if err := n.lockOp(ctx); err != nil {
		return err
	}
	defer n.unlockOp()
	mem, mgr, _, locked := n.snapshot()
	if mem == nil || locked || mem.NodeID != nd.ID {
		return nil
	}
	switch want := wantRole(nd); {
	case want == "manager" && (mem.Role != "manager" || mgr == nil):
		return n.promote(ctx, mem)
	case want == "worker" && mem.Role == "manager":
		return n.demote(ctx, mem)
	}
	return nil
}

// promote makes this worker a manager: a manager certificate from the CA
// (which issues the role the store gives), then a manager that joins the
// raft group. The leader gives it a ManagerStatus once it is a voter.
func (n *Node) promote(ctx context.Context, mem *membership) error {
	dctx, err := n.daemonCtx()
	if err != nil {
		return err
	}
	_, _, a, _ := n.snapshot()
	managers := others(n.managerAddrs(mem, a), mem.AdvertiseAddr)
	keys, err := n.renew(ctx, mem, managers, ca.ManagerRole)
	if err != nil {
		return err
	}
	if err := n.installKeys(keys, nil); err != nil {
		return err
	}
	// Raft state left from an earlier time as manager is stale: this
	// manager joins as a new member.
	if err := os.RemoveAll(raftDir(n.dir)); err != nil {
		return err
	}
	dek, err := newDEK(n.dir)
	if err != nil {
		return err
	}
	next := *mem
	next.Role = "manager"
	next.Managers = append([]string{mem.AdvertiseAddr}, managers...)
	cfg := n.managerConfig(&next, dek)
	cfg.join = func(ctx context.Context) error {
		return raftmembers.JoinVia(ctx, managers, mem.AdvertiseAddr, n.dialManager)
	}
	// The manager's cluster port takes the address the worker served its
	// images on, and serves them itself.
	if a != nil {
		a.peerPort.stop()
	}
	mgr, err := n.startManager(dctx, cfg)
	if err != nil {
		if a != nil {
			a.peerPort.start(n, mem.ListenAddr)
		}
		return fmt.Errorf("start the manager of the promoted node: %w", err)
	}
	if err := saveMembership(n.dir, &next); err != nil {
		mgr.stop()
		return err
	}
	n.mu.Lock()
	n.mem, n.mgr = &next, mgr
	n.mu.Unlock()
	n.log.Info("promoted to manager", "node.id", mem.NodeID)
	return nil
}

// demote makes this manager a worker: out of the raft group first (the
// leader takes it out, after handing leadership over if this is it), then
// its manager stops, its raft state goes and it gets a worker
// certificate. The agent keeps running.
func (n *Node) demote(ctx context.Context, mem *membership) error {
	_, mgr, a, _ := n.snapshot()
	managers := n.managerAddrs(mem, a)
	if mgr != nil {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := n.leaveRaft(lctx, managers, false)
		cancel()
		if err != nil {
			return err
		}
		mgr.stop()
		n.mu.Lock()
		n.mgr = nil
		n.mu.Unlock()
		if a != nil {
			a.peerPort.start(n, mem.ListenAddr)
		}
	}
	if err := os.RemoveAll(raftDir(n.dir)); err != nil {
		return err
	}
	if err := os.Remove(dekPath(n.dir)); err != nil && !os.IsNotExist(err) {
		return err
	}
	rest := others(managers, mem.AdvertiseAddr)
	keys, err := n.renew(ctx, mem, rest, ca.WorkerRole)
	if err != nil {
		return err
	}
	// A worker never locks: its key is kept in the clear.
	if err := keys.save(n.keyStore(nil)); err != nil {
		return err
	}
	n.kek = nil
	n.keys.Store(keys)
	next := *mem
	next.Role = "worker"
	next.Managers = rest
	if err := saveMembership(n.dir, &next); err != nil {
		return err
	}
	n.mu.Lock()
	n.mem = &next
	n.mu.Unlock()
	n.log.Info("demoted to worker", "node.id", mem.NodeID)
	return nil
}

// leaveRaft asks the leader, through the managers at addrs, to take this
// node out of the raft group (and, with leaveSwarm, to record it left).
func (n *Node) leaveRaft(ctx context.Context, addrs []string, leaveSwarm bool) error {
	return raftmembers.LeaveVia(ctx, addrs, leaveSwarm, n.dialManager)
}

func (n *Node) dialManager(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	return clusterconn.DialGRPC(ctx, addr, n.tlsFor(clusterconn.ProtoGRPC))
}

// renew gets a new certificate from the first of the managers at addrs
// that gives one, and checks it carries the role wanted: a CA whose store
// has not caught up with a role change yet issues the old one.
func (n *Node) renew(ctx context.Context, mem *membership, addrs []string, want ca.Role) (*nodeKeys, error) {
	cur := n.keys.Load()
	if cur == nil {
		return nil, fmt.Errorf("renew the node certificate: this node has none")
	}
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	last := errNoManager
	for _, addr := range addrs {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := n.issue(rctx, addr, &caserver.IssueRequest{CSR: csrPEM, AdvertiseAddr: mem.AdvertiseAddr})
		cancel()
		if err != nil {
			last = fmt.Errorf("%s: %w", addr, err)
			continue
		}
		if resp.Role != want {
			last = fmt.Errorf("the CA at %s issued role %s, not %s yet", addr, resp.Role, want)
			continue
		}
		return newNodeKeys(cur.trust, resp.CertPEM, keyPEM)
	}
	return nil, fmt.Errorf("renew the node certificate as %s: %w", want, last)
}

func (n *Node) issue(ctx context.Context, addr string, req *caserver.IssueRequest) (*caserver.IssueResponse, error) {
	cc, err := n.dialManager(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	return caserver.Issue(ctx, cc, req)
}

// others is addrs without self.
func others(addrs []string, self string) []string {
	return slices.DeleteFunc(slices.Clone(addrs), func(a string) bool { return a == self })
}

func raftDir(dir string) string { return filepath.Join(dir, "raft") }
