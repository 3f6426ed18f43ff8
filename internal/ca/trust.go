package ca

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"slices"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Trust is the set of root certificates a node accepts peers under: the
// cluster's root and, while the cluster rotates its root, the root it moves
// to. It is kept as the PEM bundle it was parsed from, so that two nodes
// trusting the same roots report the same bytes.
type Trust struct {
	roots []*x509.Certificate
	pem   []byte
	pool  *x509.CertPool
}

// ParseTrust reads a bundle of one or more CA certificates in PEM.
func ParseTrust(bundlePEM []byte) (*Trust, error) {
	t := &Trust{pem: bytes.Clone(bundlePEM), pool: x509.NewCertPool()}
	rest := bundlePEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, errdefs.Invalid("trusted root bundle: PEM block %q is not a CERTIFICATE", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errdefs.Invalid("trusted root bundle: %w", err)
		}
		if !cert.IsCA || !cert.BasicConstraintsValid {
			return nil, errdefs.Invalid("trusted root bundle: %q is not a CA certificate", cert.Subject.CommonName)
		}
		t.roots = append(t.roots, cert)
		t.pool.AddCert(cert)
	}
	if len(t.roots) == 0 {
		return nil, errdefs.Invalid("trusted root bundle holds no certificate")
	}
	return t, nil
}

// Trust returns the trust of a node whose only root is r.
func (r *RootCA) Trust() *Trust {
	t, err := ParseTrust(r.certPEM)
	if err != nil {
		panic("ca: a parsed root does not parse as a trust bundle: " + err.Error())
	}
	return t
}

// PEM returns the bundle as it was parsed.
func (t *Trust) PEM() []byte { return bytes.Clone(t.pem) }

// Pool returns a pool of the trusted roots, for verifying peers.
func (t *Trust) Pool() *x509.CertPool { return t.pool }

// Roots returns the trusted root certificates.
func (t *Trust) Roots() []*x509.Certificate { return slices.Clone(t.roots) }

// Equal reports whether both bundles are the same bytes.
func (t *Trust) Equal(o *Trust) bool { return o != nil && bytes.Equal(t.pem, o.pem) }

// HasDigest reports whether one of the roots has the hex SHA-256 digest a
// join token pins (see RootCA.Digest).
func (t *Trust) HasDigest(digest string) bool {
	for _, c := range t.roots {
		sum := sha256.Sum256(c.Raw)
		if hex.EncodeToString(sum[:]) == digest {
			return true
		}
	}
	return false
}

// Issuer verifies a node certificate chain (leaf first, DER, as in
// tls.Certificate) against the trusted roots and returns the certificate
// that signed the leaf. Its subject and public key are the issuer a node
// reports, which tells whether its certificate comes from the root the
// cluster signs with now.
func (t *Trust) Issuer(chain [][]byte) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errdefs.Invalid("empty certificate chain")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, errdefs.Invalid("node certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, errdefs.Invalid("certificate chain: %w", err)
		}
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: t.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, errdefs.Forbidden("node certificate does not verify against the trusted roots: %w", err)
	}
	return chains[0][1], nil
}
