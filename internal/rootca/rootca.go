// Package rootca is the cluster's root CA as the store holds it: which root
// signs node certificates, which roots nodes trust, which issuer their
// certificates must come from, and the rotation from one root to another —
// started by a swarm update (Start), finished by the leader once every
// live node holds a certificate of the new root (Converged, Finish).
//
// During a rotation the new root signs, and each certificate it issues
// carries the new root cross-signed by the old one, so nodes that trust
// only the old root still accept it; nodes are told to trust both roots
// and to renew. When every node that is not down reports a certificate of
// the new root, the old root is dropped and the join tokens are made anew
// for the new root's digest. A node that was down throughout must join
// again, as in SwarmKit.
package rootca

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/externalca"
	"github.com/shoal-project/shoal/internal/store"
)

// Signer returns the root that issues node certificates now: the new root,
// with its cross-signed certificate, during a rotation.
func Signer(c *store.Cluster) (*ca.RootCA, error) {
	if r := c.RootRotation; r != nil {
		next, err := ca.ParseRootCA(r.CACert, r.CAKey)
		if err != nil {
			return nil, err
		}
		return next.WithIntermediate(r.CrossSignedCACert)
	}
	return ca.ParseRootCA(c.RootCACert, c.RootCAKey)
}

// TrustPEM is the bundle of roots nodes must trust: the root, and the new
// root during a rotation.
func TrustPEM(c *store.Cluster) []byte {
	if r := c.RootRotation; r != nil {
		return append(bytes.Clone(c.RootCACert), r.CACert...)
	}
	return bytes.Clone(c.RootCACert)
}

// Desired is what a node reports once it has caught up: the roots it must
// trust and the issuer its certificate must come from.
func Desired(c *store.Cluster) (swarm.TLSInfo, error) {
	issuer := c.RootCACert
	if r := c.RootRotation; r != nil {
		issuer = r.CACert
	}
	root, err := ca.ParseRootCA(issuer, nil)
	if err != nil {
		return swarm.TLSInfo{}, err
	}
	return swarm.TLSInfo{
		TrustRoot:           string(TrustPEM(c)),
		CertIssuerSubject:   root.Cert().RawSubject,
		CertIssuerPublicKey: root.Cert().RawSubjectPublicKeyInfo,
	}, nil
}

// ClusterTLSInfo is the TLSInfo the swarm shows (GET /swarm): its root, and
// the issuer certificates come from now. The docker CLI's rotation
// progress compares each node's TLSInfo with it.
func ClusterTLSInfo(c *store.Cluster) (swarm.TLSInfo, error) {
	info, err := Desired(c)
	info.TrustRoot = string(c.RootCACert)
	return info, err
}

// Start returns c rotating to next: next signs from now on, its
// certificate cross-signed by the current root, whose key the cluster must
// hold. Rotating to the current root cancels a rotation under way.
func Start(c *store.Cluster, next *ca.RootCA) (*store.Cluster, error) {
	out := store.Clone(c)
	if bytes.Equal(next.CertPEM(), c.RootCACert) {
		out.RootRotation = nil
		return out, refresh(out)
	}
	cur, err := ca.ParseRootCA(c.RootCACert, c.RootCAKey)
	if err != nil {
		return nil, err
	}
	if !next.CanSign() {
		return nil, errdefs.Invalid("CAConfig.SigningCAKey: the new root CA's key is needed to sign node certificates (no external CA signs for this cluster)")
	}
	cross, err := cur.CrossSign(next)
	if err != nil {
		return nil, err
	}
	out.RootRotation = &store.RootRotation{CACert: next.CertPEM(), CAKey: next.KeyPEM(), CrossSignedCACert: cross}
	return out, refresh(out)
}

// Converged reports whether every node that is not down holds a
// certificate from the issuer c wants, so a rotation under way can finish.
func Converged(c *store.Cluster, nodes []*store.Node) (bool, error) {
	want, err := Desired(c)
	if err != nil {
		return false, err
	}
	for _, n := range nodes {
		if n.Status.State == swarm.NodeStateDown {
			continue
		}
		got := n.Description.TLSInfo
		if !bytes.Equal(got.CertIssuerSubject, want.CertIssuerSubject) || !bytes.Equal(got.CertIssuerPublicKey, want.CertIssuerPublicKey) {
			return false, nil
		}
	}
	return true, nil
}

// Finish returns c with its rotation done: the new root is the root, the
// old one is no longer trusted, and the join tokens pin the new root.
func Finish(c *store.Cluster) (*store.Cluster, error) {
	r := c.RootRotation
	if r == nil {
		return nil, errdefs.Precondition("no root CA rotation is under way")
	}
	next, err := ca.ParseRootCA(r.CACert, r.CAKey)
	if err != nil {
		return nil, err
	}
	out := store.Clone(c)
	out.RootCACert, out.RootCAKey, out.RootRotation = next.CertPEM(), next.KeyPEM(), nil
	out.JoinTokens = swarm.JoinTokens{Worker: ca.NewJoinToken(next), Manager: ca.NewJoinToken(next)}
	return out, refresh(out)
}

// refresh sets what the swarm shows of its root CA from the stored roots.
func refresh(c *store.Cluster) error {
	info, err := ClusterTLSInfo(c)
	if err != nil {
		return err
	}
	c.TLSInfo = info
	c.RootRotationInProgress = c.RootRotation != nil
	return nil
}

// Issue signs a node certificate for the public key in csrPEM with the
// cluster's root when the cluster holds its key (Signer), else through the
// external CAs of its spec (CAConfig.ExternalCAs), presenting clientCert
// (the manager's own certificate; nil before it has one). It returns the
// chain in PEM, leaf first.
func Issue(ctx context.Context, c *store.Cluster, csrPEM []byte, nodeID string, role ca.Role, clientCert func() *tls.Certificate, log *slog.Logger) ([]byte, error) {
	signer, err := Signer(c)
	if err != nil {
		return nil, err
	}
	if signer.CanSign() {
		return signer.IssueNodeCert(csrPEM, nodeID, role, c.ID, c.Spec.CAConfig.NodeCertExpiry)
	}
	if len(c.Spec.CAConfig.ExternalCAs) == 0 {
		return nil, errdefs.Precondition("the swarm holds no root CA key and has no external CA (CAConfig.ExternalCAs) to sign node certificates")
	}
	trust, err := ca.ParseTrust(TrustPEM(c))
	if err != nil {
		return nil, err
	}
	ext, err := externalca.New(c.Spec.CAConfig.ExternalCAs, trust.Pool(), clientCert, log)
	if err != nil {
		return nil, err
	}
	return ext.Sign(ctx, csrPEM, nodeID, string(role), c.ID)
}
