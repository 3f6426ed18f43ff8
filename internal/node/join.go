package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/caserver"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/raftmembers"
)

// Join makes this node a member of the swarm one of req.RemoteAddrs
// manages: it checks the manager's root against the token, gets a
// certificate for the role the token grants, and starts the agent (and,
// for a manager, joins raft first).
func (n *Node) Join(ctx context.Context, req swarm.JoinRequest) error {
	if err := n.waitStarted(ctx); err != nil {
		return err
	}
	if err := n.lockOp(ctx); err != nil {
		return err
	}
	defer n.unlockOp()
	switch mem, _, _, locked := n.snapshot(); {
	case locked:
		return errLocked
	case mem != nil:
		return errAlreadyInSwarm
	}
	dctx, err := n.daemonCtx()
	if err != nil {
		return err
	}
	if len(req.RemoteAddrs) == 0 {
		return errdefs.Invalid("join: no manager address given (RemoteAddrs)")
	}
	token, err := ca.ParseJoinToken(req.JoinToken)
	if err != nil {
		return err
	}
	listen, advertise, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr, n.hostAddrs)
	if err != nil {
		return err
	}
	joinCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	remote := withDefaultPort(req.RemoteAddrs[0])
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	dataPath, err := dataPathAddr(req.DataPathAddr)
	if err != nil {
		return err
	}
	issueReq := &caserver.IssueRequest{CSR: csrPEM, Token: req.JoinToken, Availability: req.Availability, AdvertiseAddr: advertise, DataPathAddr: dataPath}
	trust, issued, err := joinVia(joinCtx, remote, token, issueReq)
	// Only the leader registers nodes: a follower names it.
	if hint := caserver.LeaderHint(err); hint != "" && hint != remote {
		remote = hint
		trust, issued, err = joinVia(joinCtx, remote, token, issueReq)
	}
	if caserver.LeaderHint(err) != "" {
		return errdefs.Unavailable("join: %s", grpcMessage(err))
	}
	if err != nil {
		return err
	}
	keys, err := newNodeKeys(trust, issued.CertPEM, keyPEM)
	if err != nil {
		return err
	}
	mem := &membership{
		NodeID:        issued.NodeID,
		ClusterID:     issued.ClusterID,
		Role:          "worker",
		ListenAddr:    listen,
		AdvertiseAddr: advertise,
		DataPathAddr:  dataPath,
		Managers:      issued.Managers,
	}
	if len(mem.Managers) == 0 {
		mem.Managers = []string{remote}
	}
	if err := os.RemoveAll(n.dir); err != nil {
		return err
	}
	fail := func(err error) error {
		os.RemoveAll(n.dir)
		n.keys.Store(nil)
		return err
	}
	if err := keys.save(n.keyStore(nil)); err != nil {
		return fail(err)
	}
	n.keys.Store(keys)
	var mgr *manager
	if issued.Role == ca.ManagerRole {
		mem.Role = "manager"
		mem.Managers = append([]string{advertise}, mem.Managers...)
		dek, err := newDEK(n.dir)
		if err != nil {
			return fail(err)
		}
		cfg := n.managerConfig(mem, dek)
		cfg.join = func(ctx context.Context) error {
			return raftmembers.JoinVia(ctx, issued.Managers, advertise, n.dialManager)
		}
		if mgr, err = n.startManager(dctx, cfg); err != nil {
			return fail(err)
		}
	}
	if err := saveMembership(n.dir, mem); err != nil {
		if mgr != nil {
			mgr.stop()
		}
		return fail(err)
	}
	a := n.startAgent(dctx, mem)
	n.setState(mem, mgr, a, false)
	n.settle(ctx, mem, mgr, a)
	n.log.Info("joined swarm", "node.id", mem.NodeID, "role", mem.Role, "manager", remote)
	return nil
}

// joinVia asks the manager at remote, which must hold the root the token
// names, for the roots to trust and the joining node's certificate.
func joinVia(ctx context.Context, remote string, token ca.JoinToken, req *caserver.IssueRequest) (*ca.Trust, *caserver.IssueResponse, error) {
	pinned := clusterconn.ClientTLSPinned(token.RootDigest, clusterconn.ProtoGRPC)
	cc, err := clusterconn.DialGRPC(ctx, remote, func() *tls.Config { return pinned })
	if err != nil {
		return nil, nil, err
	}
	defer cc.Close()
	rootResp, err := caserver.Root(ctx, cc)
	if err != nil {
		return nil, nil, errdefs.Unavailable("join: get the root certificate from %s: %w", remote, err)
	}
	trust, err := ca.ParseTrust(rootResp.TrustPEM)
	if err != nil {
		return nil, nil, err
	}
	if !trust.HasDigest(token.RootDigest) {
		return nil, nil, errdefs.Invalid("join: the manager's root certificate does not match the join token")
	}
	issued, err := caserver.Issue(ctx, cc, req)
	if caserver.LeaderHint(err) != "" {
		return nil, nil, err
	}
	if status.Code(err) == codes.Unavailable {
		return nil, nil, errdefs.Unavailable("%s", grpcMessage(err))
	}
	if err != nil {
		return nil, nil, errdefs.Invalid("%s", grpcMessage(err))
	}
	return trust, issued, nil
}

func withDefaultPort(addr string) string {
	h, p, err := splitHostPortDefault(addr, defaultClusterPort)
	if err != nil {
		return addr
	}
	return joinHostPort(h, p)
}

// grpcMessage is the message of a gRPC status error, without the code.
func grpcMessage(err error) string {
	msg := err.Error()
	if i := bytes.Index([]byte(msg), []byte("desc = ")); i >= 0 {
		return msg[i+len("desc = "):]
	}
	return msg
}
