// Package ca is the cluster's trust root: the root CA, the node certificates
// it issues (whose subject carries the node's ID, role and cluster), join
// tokens, the authorization of gRPC calls by certificate role, and the node's
// key material on disk.
package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/errdefs"
)

const (
	rootCN = "swarm-ca"

	rootValidity = 20 * 365 * 24 * time.Hour

	// certBackdate lets a certificate be accepted by a peer whose clock is
	// a little behind the issuer's, as SwarmKit does.
	certBackdate = time.Hour
)

// RootCA is the cluster's root certificate and, on nodes that may sign, its
// private key.
type RootCA struct {
	cert    *x509.Certificate
	certPEM []byte
	signer  crypto.Signer // nil when the key is held elsewhere (external CA)
	keyPEM  []byte
	pool    *x509.CertPool
	// intermediates follow every certificate issued (see WithIntermediate).
	intermediates []byte
}

// NewRootCA creates a self-signed ECDSA P-256 root valid for 20 years.
func NewRootCA() (*RootCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate root CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: rootCN},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create root CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode root CA key: %w", err)
	}
	return ParseRootCA(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	)
}

// ParseRootCA loads a root from PEM. keyPEM may be nil when the root's key
// is not held here; such a root verifies certificates but cannot issue them.
func ParseRootCA(certPEM, keyPEM []byte) (*RootCA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, errdefs.Invalid("root CA certificate: %w", err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, errdefs.Invalid("root CA certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	r := &RootCA{cert: cert, certPEM: bytes.Clone(certPEM), pool: x509.NewCertPool()}
	r.pool.AddCert(cert)
	if len(keyPEM) == 0 {
		return r, nil
	}
	signer, err := ParseSigner(keyPEM)
	if err != nil {
		return nil, errdefs.Invalid("root CA key: %w", err)
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, errdefs.Invalid("root CA key does not match the root CA certificate")
	}
	r.signer = signer
	r.keyPEM = bytes.Clone(keyPEM)
	return r, nil
}

// Cert returns the parsed root certificate.
func (r *RootCA) Cert() *x509.Certificate { return r.cert }

// CertPEM returns the root certificate in PEM.
func (r *RootCA) CertPEM() []byte { return bytes.Clone(r.certPEM) }

// KeyPEM returns the root key in PEM, or nil when this root cannot sign.
func (r *RootCA) KeyPEM() []byte { return bytes.Clone(r.keyPEM) }

// CanSign reports whether the root's key is held here.
func (r *RootCA) CanSign() bool { return r.signer != nil }

// Digest is the hex SHA-256 of the root certificate's DER: the fingerprint
// a join token pins.
func (r *RootCA) Digest() string {
	sum := sha256.Sum256(r.cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Pool returns a pool holding only this root, for verifying peers.
func (r *RootCA) Pool() *x509.CertPool { return r.pool }

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	return serial, nil
}

func parseCertPEM(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// ParseSigner reads a private key in PEM, EC or PKCS#8, that can sign.
func ParseSigner(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("PKCS#8 key of type %T cannot sign", k)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
