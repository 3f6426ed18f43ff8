package externalca

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
)

// request is what a node certificate must be: for this key, with this
// subject. Hosts become the certificate's DNS names: the role, which peers
// check as the TLS server name, and the node ID.
type request struct {
	csrPEM []byte
	pub    crypto.PublicKey
	cn     string // node ID
	ou     string // role
	o      string // cluster ID
}

func (r request) hosts() []string { return []string{r.ou, r.cn} }

// checkChain accepts what an external CA returned only if its first
// certificate is the node certificate asked for and chains to trust, using
// the certificates after it as intermediates. It returns the chain
// re-encoded, leaf first, intermediates kept, so that peers that know only
// the root can verify it.
func checkChain(chainPEM []byte, want request, trust *x509.CertPool) ([]byte, error) {
	certs, err := parseCertsPEM(chainPEM)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("the answer holds no certificate")
	}
	leaf := certs[0]
	s := leaf.Subject
	if s.CommonName != want.cn || !slices.Equal(s.OrganizationalUnit, []string{want.ou}) || !slices.Equal(s.Organization, []string{want.o}) {
		return nil, fmt.Errorf("certificate subject is CN=%q OU=%q O=%q, want CN=%q OU=[%q] O=[%q]",
			s.CommonName, s.OrganizationalUnit, s.Organization, want.cn, want.ou, want.o)
	}
	if !publicKeysEqual(leaf.PublicKey, want.pub) {
		return nil, fmt.Errorf("certificate is for another public key than the request's")
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	// Node certificates serve TLS (managers) and authenticate clients (every
	// node); a chain valid for only one of the two would fail later, far from
	// its cause.
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		opts := x509.VerifyOptions{
			Roots:         trust,
			Intermediates: intermediates,
			DNSName:       want.ou,
			KeyUsages:     []x509.ExtKeyUsage{usage},
		}
		if _, err := leaf.Verify(opts); err != nil {
			return nil, fmt.Errorf("certificate is not valid for the cluster's root CA: %w", err)
		}
	}
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out, nil
}

// parseCertsPEM reads every block of data, which must all be certificates.
func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certs, nil
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
