package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// Role is what a node certificate allows its holder to do; it is the
// certificate's OU, as in SwarmKit.
type Role string

const (
	ManagerRole Role = "swarm-manager"
	WorkerRole  Role = "swarm-worker"
)

// DefaultNodeCertExpiry is how long a node certificate lasts unless the
// cluster spec says otherwise (Docker's default).
const DefaultNodeCertExpiry = 90 * 24 * time.Hour

// Identity is who a verified node certificate says its holder is.
type Identity struct {
	NodeID    string
	Role      Role
	ClusterID string
}

// NewKeyAndCSR makes a fresh node key and a certificate request for it. The
// CSR carries only the public key: the CA fills in the subject.
func NewKeyAndCSR() (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate node key: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate request: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode node key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}),
		nil
}

// IssueNodeCert signs a node certificate for the public key in csrPEM.
// Everything but the key comes from the arguments, never from the CSR, so a
// joining node cannot choose its own ID or role. expiry 0 means
// DefaultNodeCertExpiry.
func (r *RootCA) IssueNodeCert(csrPEM []byte, nodeID string, role Role, clusterID string, expiry time.Duration) ([]byte, error) {
	if r.signer == nil {
		return nil, errdefs.Precondition("the root CA key is not held by this node: certificates are issued by the external CA")
	}
	if err := validRole(role); err != nil {
		return nil, err
	}
	if nodeID == "" {
		return nil, errdefs.Invalid("node certificate needs a node ID")
	}
	if clusterID == "" {
		return nil, errdefs.Invalid("node certificate needs a cluster ID")
	}
	if expiry < 0 {
		return nil, errdefs.Invalid("node certificate expiry %s is negative", expiry)
	}
	if expiry == 0 {
		expiry = DefaultNodeCertExpiry
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errdefs.Invalid("certificate signing request is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, errdefs.Invalid("parse certificate signing request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errdefs.Invalid("certificate signing request signature: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := clock.Now()
	notAfter := now.Add(expiry)
	if notAfter.After(r.cert.NotAfter) {
		notAfter = r.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         nodeID,
			OrganizationalUnit: []string{string(role)},
			Organization:       []string{clusterID},
		},
		DNSNames:    []string{string(role), nodeID},
		NotBefore:   now.Add(-certBackdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.cert, csr.PublicKey, r.signer)
	if err != nil {
		return nil, fmt.Errorf("sign node certificate: %w", err)
	}
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(leaf, r.intermediates...), nil
}

// IdentityFromCert reads the node ID (CN), role (OU) and cluster ID (O) of a
// certificate that has already been verified against the root.
func IdentityFromCert(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, errdefs.Forbidden("no certificate")
	}
	s := cert.Subject
	if s.CommonName == "" {
		return Identity{}, errdefs.Forbidden("certificate has no node ID (empty CN)")
	}
	if len(s.OrganizationalUnit) != 1 {
		return Identity{}, errdefs.Forbidden("certificate of node %s has %d roles (OU), want 1", s.CommonName, len(s.OrganizationalUnit))
	}
	role := Role(s.OrganizationalUnit[0])
	if err := validRole(role); err != nil {
		return Identity{}, errdefs.Forbidden("certificate of node %s: %w", s.CommonName, err)
	}
	if len(s.Organization) != 1 || s.Organization[0] == "" {
		return Identity{}, errdefs.Forbidden("certificate of node %s has no single cluster ID (O)", s.CommonName)
	}
	return Identity{NodeID: s.CommonName, Role: role, ClusterID: s.Organization[0]}, nil
}

// NeedsRenewal reports whether cert has used up half of its validity (or
// more) at now. SwarmKit renews at a random point between 50% and 80%; the
// jitter belongs to the caller's scheduling, this is the threshold.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	half := cert.NotAfter.Sub(cert.NotBefore) / 2
	return !now.Before(cert.NotBefore.Add(half))
}

func validRole(role Role) error {
	switch role {
	case ManagerRole, WorkerRole:
		return nil
	default:
		return errdefs.Invalid("role %q is not %q or %q", role, ManagerRole, WorkerRole)
	}
}
