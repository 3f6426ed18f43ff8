package node

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/shoal-project/shoal/internal/ca"
)

// nodeKeys is a node's TLS identity and the root it trusts.
type nodeKeys struct {
	root    *ca.RootCA
	cert    tls.Certificate
	certPEM []byte
	keyPEM  []byte
}

func issueKeys(root *ca.RootCA, nodeID string, role ca.Role, clusterID string, expiry time.Duration) (*nodeKeys, error) {
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	certPEM, err := root.IssueNodeCert(csrPEM, nodeID, role, clusterID, expiry)
	if err != nil {
		return nil, err
	}
	return newNodeKeys(root, certPEM, keyPEM)
}

func newNodeKeys(root *ca.RootCA, certPEM, keyPEM []byte) (*nodeKeys, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	return &nodeKeys{root: root, cert: cert, certPEM: certPEM, keyPEM: keyPEM}, nil
}

func (k *nodeKeys) save(ks ca.KeyStore) error {
	if err := ks.SaveRootCert(k.root.CertPEM()); err != nil {
		return err
	}
	return ks.SaveNode(k.certPEM, k.keyPEM)
}

func loadKeys(ks ca.KeyStore) (*nodeKeys, error) {
	rootPEM, err := ks.LoadRootCert()
	if err != nil {
		return nil, err
	}
	root, err := ca.ParseRootCA(rootPEM, nil)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ks.LoadNode()
	if err != nil {
		return nil, err
	}
	return newNodeKeys(root, certPEM, keyPEM)
}
