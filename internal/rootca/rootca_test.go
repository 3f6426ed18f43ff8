package rootca

import (
	"bytes"
	"crypto/tls"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

func newRoot(t *testing.T) *ca.RootCA {
	t.Helper()
	r, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newCluster(t *testing.T, root *ca.RootCA) *store.Cluster {
	t.Helper()
	c := &store.Cluster{
		Swarm:      swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "cluster1"}, JoinTokens: swarm.JoinTokens{Worker: ca.NewJoinToken(root), Manager: ca.NewJoinToken(root)}},
		RootCACert: root.CertPEM(),
		RootCAKey:  root.KeyPEM(),
	}
	if err := refresh(c); err != nil {
		t.Fatal(err)
	}
	return c
}

// nodeWithCertFrom is a ready node reporting a certificate issued by the
// cluster's signer at the time of c.
func nodeWithCertFrom(t *testing.T, c *store.Cluster, id string, state swarm.NodeState) *store.Node {
	t.Helper()
	signer, err := Signer(c)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := signer.IssueNodeCert(csrPEM, id, ca.WorkerRole, c.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := ca.ParseTrust(TrustPEM(c))
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := trust.Issuer(cert.Certificate)
	if err != nil {
		t.Fatalf("a certificate of the cluster's signer does not verify against its trust: %v", err)
	}
	n := &store.Node{}
	n.ID = id
	n.Status.State = state
	n.Description.TLSInfo = swarm.TLSInfo{TrustRoot: string(TrustPEM(c)), CertIssuerSubject: issuer.RawSubject, CertIssuerPublicKey: issuer.RawSubjectPublicKeyInfo}
	return n
}

func TestRotation(t *testing.T) {
	old, next := newRoot(t), newRoot(t)
	c := newCluster(t, old)
	before := nodeWithCertFrom(t, c, "a", swarm.NodeStateReady)
	if done, err := Converged(c, []*store.Node{before}); err != nil || !done {
		t.Fatalf("a cluster without rotation: got converged %v, %v; want true", done, err)
	}

	rot, err := Start(c, next)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !rot.RootRotationInProgress || rot.RootRotation == nil {
		t.Fatal("Start did not record the rotation")
	}
	if c.RootRotation != nil {
		t.Fatal("Start changed the cluster it was given")
	}
	if got := rot.TLSInfo.TrustRoot; got != string(old.CertPEM()) {
		t.Errorf("during the rotation the swarm shows trust root %q, want the old root", got)
	}
	if !bytes.Equal(rot.TLSInfo.CertIssuerPublicKey, next.Cert().RawSubjectPublicKeyInfo) {
		t.Error("during the rotation the swarm's issuer is not the new root")
	}
	if trust, err := ca.ParseTrust(TrustPEM(rot)); err != nil || len(trust.Roots()) != 2 {
		t.Fatalf("during the rotation nodes must trust both roots: got %v, %v", trust, err)
	}
	if rot.JoinTokens != c.JoinTokens {
		t.Error("join tokens changed when the rotation started; they must keep working until it ends")
	}

	renewed := nodeWithCertFrom(t, rot, "a", swarm.NodeStateReady)
	lagging := nodeWithCertFrom(t, c, "b", swarm.NodeStateReady)
	down := nodeWithCertFrom(t, c, "c", swarm.NodeStateDown)
	tests := []struct {
		name  string
		nodes []*store.Node
		want  bool
	}{
		{"no node renewed", []*store.Node{before, lagging}, false},
		{"one of two renewed", []*store.Node{renewed, lagging}, false},
		{"all renewed", []*store.Node{renewed}, true},
		{"a node that is down does not hold the rotation", []*store.Node{renewed, down}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Converged(rot, tt.nodes)
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}

	done, err := Finish(rot)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if done.RootRotationInProgress || done.RootRotation != nil {
		t.Error("Finish left the rotation in progress")
	}
	if !bytes.Equal(done.RootCACert, next.CertPEM()) || done.TLSInfo.TrustRoot != string(next.CertPEM()) {
		t.Error("after Finish the root is not the new one")
	}
	for _, tok := range []string{done.JoinTokens.Worker, done.JoinTokens.Manager} {
		parsed, err := ca.ParseJoinToken(tok)
		if err != nil || !parsed.MatchesRoot(next) {
			t.Errorf("join token %s does not pin the new root (%v)", tok, err)
		}
	}
	if ok, _ := Converged(done, []*store.Node{renewed}); !ok {
		t.Error("a node renewed during the rotation is not converged after it")
	}
	if _, err := Finish(done); !errdefs.Is(err, errdefs.KindPrecondition) {
		t.Errorf("Finish without a rotation: got %v, want Precondition", err)
	}
}

func TestStartToTheCurrentRootCancels(t *testing.T) {
	old, next := newRoot(t), newRoot(t)
	rot, err := Start(newCluster(t, old), next)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Start(rot, old)
	if err != nil {
		t.Fatalf("Start to the current root: %v", err)
	}
	if back.RootRotation != nil || back.RootRotationInProgress {
		t.Error("rotating to the current root did not cancel the rotation")
	}
	if !bytes.Equal(back.TLSInfo.CertIssuerPublicKey, old.Cert().RawSubjectPublicKeyInfo) {
		t.Error("after cancelling, the issuer is not the current root")
	}
}

func TestStartRefuses(t *testing.T) {
	old, next := newRoot(t), newRoot(t)
	publicNext, err := ca.ParseRootCA(next.CertPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	external := newCluster(t, old)
	external.RootCAKey = nil
	tests := []struct {
		name string
		c    *store.Cluster
		next *ca.RootCA
		want errdefs.Kind
	}{
		{"new root without its key", newCluster(t, old), publicNext, errdefs.KindInvalid},
		{"current root key not held", external, next, errdefs.KindPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Start(tt.c, tt.next); !errdefs.Is(err, tt.want) {
				t.Errorf("got %v, want kind %v", err, tt.want)
			}
		})
	}
}
