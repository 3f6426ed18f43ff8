package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

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
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mem != nil {
		return errAlreadyInSwarm
	}
	if len(req.RemoteAddrs) == 0 {
		return errdefs.Invalid("join: no manager address given (RemoteAddrs)")
	}
	token, err := ca.ParseJoinToken(req.JoinToken)
	if err != nil {
		return err
	}
	listen, advertise, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr, hostAddrs(n.cfg.Engine.Network.Name()))
	if err != nil {
		return err
	}
	joinCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	remote := withDefaultPort(req.RemoteAddrs[0])
	pinned := clusterconn.ClientTLSPinned(token.RootDigest, clusterconn.ProtoGRPC)
	cc, err := clusterconn.DialGRPC(joinCtx, remote, func() *tls.Config { return pinned })
	if err != nil {
		return err
	}
	defer cc.Close()
	rootResp, err := caserver.Root(joinCtx, cc)
	if err != nil {
		return errdefs.Unavailable("join: get the root certificate from %s: %w", remote, err)
	}
	root, err := ca.ParseRootCA(rootResp.CertPEM, nil)
	if err != nil {
		return err
	}
	if !token.MatchesRoot(root) {
		return errdefs.Invalid("join: the manager's root certificate does not match the join token")
	}
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	issued, err := caserver.Issue(joinCtx, cc, &caserver.IssueRequest{
		CSR: csrPEM, Token: req.JoinToken, Availability: req.Availability, AdvertiseAddr: advertise,
	})
	if err != nil {
		return errdefs.Invalid("%s", grpcMessage(err))
	}
	keys, err := newNodeKeys(root, issued.CertPEM, keyPEM)
	if err != nil {
		return err
	}
	mem := &membership{
		NodeID:        issued.NodeID,
		ClusterID:     issued.ClusterID,
		Role:          "worker",
		ListenAddr:    listen,
		AdvertiseAddr: advertise,
		DataPathAddr:  req.DataPathAddr,
		Managers:      issued.Managers,
	}
	if len(mem.Managers) == 0 {
		mem.Managers = []string{remote}
	}
	if err := os.RemoveAll(n.dir); err != nil {
		return err
	}
	if err := keys.save(n.keyStore()); err != nil {
		return err
	}
	n.keys.Store(keys)
	if issued.Role == ca.ManagerRole {
		mem.Role = "manager"
		mem.Managers = append([]string{advertise}, mem.Managers...)
		cfg := n.managerConfig(false)
		cfg.mem = mem
		cfg.join = func(ctx context.Context) error {
			dial := func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
				return clusterconn.DialGRPC(ctx, addr, n.tlsFor(clusterconn.ProtoGRPC))
			}
			return raftmembers.JoinVia(ctx, issued.Managers, advertise, dial)
		}
		mgr, err := startManager(n.ctx, cfg)
		if err != nil {
			os.RemoveAll(n.dir)
			n.keys.Store(nil)
			return err
		}
		n.mgr = mgr
	}
	if err := saveMembership(n.dir, mem); err != nil {
		return err
	}
	n.mem = mem
	n.agent = n.startAgent(n.ctx)
	n.log.Info("joined swarm", "node.id", mem.NodeID, "role", mem.Role, "manager", remote)
	return nil
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
