package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/store"
)

// nodeKeys is a node's TLS identity and the roots it trusts.
type nodeKeys struct {
	trust   *ca.Trust
	cert    tls.Certificate
	certPEM []byte
	keyPEM  []byte
}

// issueKeys makes the first manager's keys for cluster c, before any CA
// service runs: its own root signs, or its external CA does.
func issueKeys(ctx context.Context, c *store.Cluster, nodeID string, role ca.Role, log *slog.Logger) (*nodeKeys, error) {
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	certPEM, err := rootca.Issue(ctx, c, csrPEM, nodeID, role, nil, log)
	if err != nil {
		return nil, err
	}
	trust, err := ca.ParseTrust(rootca.TrustPEM(c))
	if err != nil {
		return nil, err
	}
	return newNodeKeys(trust, certPEM, keyPEM)
}

func newNodeKeys(trust *ca.Trust, certPEM, keyPEM []byte) (*nodeKeys, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	return &nodeKeys{trust: trust, cert: cert, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// withTrust returns the same certificate under other trusted roots.
func (k *nodeKeys) withTrust(trust *ca.Trust) *nodeKeys {
	out := *k
	out.trust = trust
	return &out
}

// tlsInfo is what the node reports of its keys: the roots it trusts and
// the issuer of its certificate (empty when that does not verify).
func (k *nodeKeys) tlsInfo() swarm.TLSInfo {
	info := swarm.TLSInfo{TrustRoot: string(k.trust.PEM())}
	if issuer, err := k.trust.Issuer(k.cert.Certificate); err == nil {
		info.CertIssuerSubject = issuer.RawSubject
		info.CertIssuerPublicKey = issuer.RawSubjectPublicKeyInfo
	}
	return info
}

func (k *nodeKeys) save(ks ca.KeyStore) error {
	if err := ks.SaveRootCert(k.trust.PEM()); err != nil {
		return err
	}
	return ks.SaveNode(k.certPEM, k.keyPEM)
}

func loadKeys(ks ca.KeyStore) (*nodeKeys, error) {
	rootPEM, err := ks.LoadRootCert()
	if err != nil {
		return nil, err
	}
	trust, err := ca.ParseTrust(rootPEM)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ks.LoadNode()
	if err != nil {
		return nil, err
	}
	return newNodeKeys(trust, certPEM, keyPEM)
}
