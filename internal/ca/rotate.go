package ca

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// CrossSign makes an intermediate certificate for next's root signed by r:
// same subject and key as next, so a certificate next issues verifies
// against r alone through it. During a root rotation nodes that still
// trust only the old root accept the new root's certificates this way.
func (r *RootCA) CrossSign(next *RootCA) ([]byte, error) {
	if r.signer == nil {
		return nil, errdefs.Precondition("the current root CA key is not held by the swarm, so it cannot cross-sign the new root: rotate with an external CA that can")
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	nc := next.cert
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            nc.RawSubject,
		SubjectKeyId:          nc.SubjectKeyId,
		NotBefore:             nc.NotBefore,
		NotAfter:              nc.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.cert, nc.PublicKey, r.signer)
	if err != nil {
		return nil, fmt.Errorf("cross-sign the new root CA: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// WithIntermediate returns r issuing certificates followed by the
// intermediate in PEM (a cross-signed certificate of r), so that peers
// trusting the intermediate's issuer verify them.
func (r *RootCA) WithIntermediate(intermediatePEM []byte) (*RootCA, error) {
	c, err := parseCertPEM(intermediatePEM)
	if err != nil {
		return nil, errdefs.Invalid("intermediate certificate: %w", err)
	}
	if !c.IsCA || !publicKeysEqual(r.cert.PublicKey, c.PublicKey) {
		return nil, errdefs.Invalid("intermediate certificate %q is not a CA certificate of the signing root's key", c.Subject.CommonName)
	}
	out := *r
	out.intermediates = append(append([]byte(nil), r.intermediates...), intermediatePEM...)
	return &out, nil
}
