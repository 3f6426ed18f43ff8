package caserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/store"
)

func TestRoleForToken(t *testing.T) {
	tokens := swarm.JoinTokens{Worker: "SWMTKN-1-aaa-worker", Manager: "SWMTKN-1-aaa-manager"}
	tests := []struct {
		name, token string
		want        ca.Role
		ok          bool
	}{
		{"worker", tokens.Worker, ca.WorkerRole, true},
		{"manager", tokens.Manager, ca.ManagerRole, true},
		{"empty", "", "", false},
		{"rotated away", "SWMTKN-1-aaa-old", "", false},
		{"prefix of a real one", "SWMTKN-1-aaa-work", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := roleForToken(tokens, tt.token)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("roleForToken(%q) = %q, %v; want %q, %v", tt.token, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// cluster starts a CA service over a real store and cluster port.
func cluster(t *testing.T) (*store.Store, *ca.RootCA, string, *store.Cluster) {
	t.Helper()
	st := consensustest.NewStore(t)
	root := clusterconntest.NewRoot(t)
	c := &store.Cluster{
		Swarm: swarm.Swarm{
			ClusterInfo: swarm.ClusterInfo{ID: "test-cluster"},
			JoinTokens:  swarm.JoinTokens{Worker: ca.NewJoinToken(root), Manager: ca.NewJoinToken(root)},
		},
		RootCACert: root.CertPEM(),
		RootCAKey:  root.KeyPEM(),
	}
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error { return tx.Put(c) }); err != nil {
		t.Fatal(err)
	}
	mgr := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, mgr)
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) {
		r.RegisterService(&serviceDesc, New(st, slog.New(slog.DiscardHandler)))
	})
	return st, root, mux.Addr().String(), c
}

func join(t *testing.T, addr string, token string) (*IssueResponse, error) {
	t.Helper()
	parsed, err := ca.ParseJoinToken(token)
	if err != nil {
		t.Fatal(err)
	}
	conf := clusterconn.ClientTLSPinned(parsed.RootDigest, clusterconn.ProtoGRPC)
	cc, err := clusterconn.DialGRPC(t.Context(), addr, func() *tls.Config { return conf })
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	return Issue(t.Context(), cc, &IssueRequest{CSR: csr, Token: token, AdvertiseAddr: "192.0.2.1:2377"})
}

func TestJoinWithWorkerTokenRegistersAWorker(t *testing.T) {
	st, root, addr, c := cluster(t)
	resp, err := join(t, addr, c.JoinTokens.Worker)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(resp.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: root.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not chain to the root: %v", err)
	}
	id, err := ca.IdentityFromCert(cert)
	if err != nil {
		t.Fatal(err)
	}
	if id.NodeID != resp.NodeID || id.Role != ca.WorkerRole || id.ClusterID != "test-cluster" {
		t.Fatalf("got identity %+v for response %+v, want the new node as a worker of test-cluster", id, resp)
	}
	st.View(func(tx store.ReadTx) {
		n := store.Get[*store.Node](tx, resp.NodeID)
		if n == nil || n.Spec.Role != swarm.NodeRoleWorker || n.ManagerStatus != nil || n.Spec.Availability != swarm.NodeAvailabilityActive {
			t.Fatalf("registered node %+v, want an active worker", n)
		}
	})
}

func TestJoinWithManagerTokenRegistersAManager(t *testing.T) {
	st, _, addr, c := cluster(t)
	resp, err := join(t, addr, c.JoinTokens.Manager)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Role != ca.ManagerRole {
		t.Fatalf("got role %q, want manager", resp.Role)
	}
	st.View(func(tx store.ReadTx) {
		n := store.Get[*store.Node](tx, resp.NodeID)
		if n == nil || n.ManagerStatus == nil || n.ManagerStatus.Addr != "192.0.2.1:2377" {
			t.Fatalf("registered node %+v, want a manager with its advertise address", n)
		}
	})
}

func TestJoinWithWrongTokenIsRefusedAndRegistersNothing(t *testing.T) {
	st, root, addr, _ := cluster(t)
	_, err := join(t, addr, ca.NewJoinToken(root)) // right root, unknown secret
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != "A valid join token is necessary to join this cluster" {
		t.Fatalf("got %v, want InvalidArgument: A valid join token is necessary to join this cluster", err)
	}
	st.View(func(tx store.ReadTx) {
		if n := store.All[*store.Node](tx); len(n) != 0 {
			t.Fatalf("got %d nodes registered after a refused join, want 0", len(n))
		}
	})
}

func TestMemberRenewsWithItsCertificate(t *testing.T) {
	st, root, addr, _ := cluster(t)
	member := clusterconntest.NewNode(t, root, ca.WorkerRole)
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Node{Node: swarm.Node{ID: member.ID, Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager}}})
	}); err != nil {
		t.Fatal(err)
	}
	cc := clusterconntest.Dial(t, root, addr, &member)
	_, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Issue(t.Context(), cc, &IssueRequest{CSR: csr})
	if err != nil {
		t.Fatal(err)
	}
	// The store says the node was promoted: the renewed certificate carries it.
	if resp.NodeID != member.ID || resp.Role != ca.ManagerRole {
		t.Fatalf("renewal got %s as %s, want %s as manager", resp.NodeID, resp.Role, member.ID)
	}
}

func TestJoinOnAFollowerNamesTheLeader(t *testing.T) {
	st := consensustest.NewStore(t)
	root := clusterconntest.NewRoot(t)
	c := &store.Cluster{
		Swarm:      swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "test-cluster"}, JoinTokens: swarm.JoinTokens{Worker: ca.NewJoinToken(root), Manager: ca.NewJoinToken(root)}},
		RootCACert: root.CertPEM(),
		RootCAKey:  root.KeyPEM(),
	}
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error { return tx.Put(c) }); err != nil {
		t.Fatal(err)
	}
	mgr := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, mgr)
	leader := "192.0.2.7:2377"
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) {
		r.RegisterService(&serviceDesc, New(st, slog.New(slog.DiscardHandler)).WithLeader(func() (string, bool) { return leader, false }))
	})
	_, err := join(t, mux.Addr().String(), c.JoinTokens.Worker)
	if status.Code(err) != codes.Unavailable || LeaderHint(err) != leader {
		t.Fatalf("join on a follower: got %v (hint %q), want Unavailable naming %s", err, LeaderHint(err), leader)
	}
	leader = ""
	_, err = join(t, mux.Addr().String(), c.JoinTokens.Worker)
	if status.Code(err) != codes.Unavailable || LeaderHint(err) != "" {
		t.Fatalf("join with no leader: got %v, want Unavailable without a hint", err)
	}
	st.View(func(tx store.ReadTx) {
		if n := store.All[*store.Node](tx); len(n) != 0 {
			t.Fatalf("got %d nodes registered by a follower, want 0", len(n))
		}
	})
}

// TestJoinDuringRootRotation joins with a token of the old root while the
// cluster rotates: the joiner learns both roots, and its certificate comes
// from the new root yet verifies against the old one alone.
func TestJoinDuringRootRotation(t *testing.T) {
	st, old, addr, c := cluster(t)
	next := clusterconntest.NewRoot(t)
	rot, err := rootca.Start(c, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error { return tx.Put(rot) }); err != nil {
		t.Fatal(err)
	}
	resp, err := join(t, addr, c.JoinTokens.Worker)
	if err != nil {
		t.Fatalf("join with the old root's token during the rotation: %v", err)
	}
	var chain [][]byte
	for rest := resp.CertPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		chain = append(chain, b.Bytes)
	}
	issuer, err := old.Trust().Issuer(chain)
	if err != nil {
		t.Fatalf("the certificate issued during the rotation does not verify against the old root: %v", err)
	}
	if string(issuer.RawSubjectPublicKeyInfo) != string(next.Cert().RawSubjectPublicKeyInfo) {
		t.Error("the certificate issued during the rotation does not come from the new root")
	}

	conf := clusterconn.ClientTLS(old.Trust(), nil, clusterconn.ProtoGRPC)
	cc, err := clusterconn.DialGRPC(t.Context(), addr, func() *tls.Config { return conf })
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	roots, err := Root(t.Context(), cc)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := ca.ParseTrust(roots.TrustPEM)
	if err != nil || len(trust.Roots()) != 2 || !trust.HasDigest(old.Digest()) || !trust.HasDigest(next.Digest()) {
		t.Fatalf("got roots %v (%v), want the old and the new root", trust, err)
	}
}
