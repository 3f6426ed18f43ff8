package externalca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
)

// TestCheckChain covers the answers a real CFSSL does not give: a CA that
// ignores the subject asked for, swaps the key or leaves out usages.
func TestCheckChain(t *testing.T) {
	root, other := newRoot(t), newRoot(t)
	inter := root.intermediate(t)

	// nodeCert issues, from is, a certificate as asked for, changed by mod.
	nodeCert := func(is issuer, mod func(*x509.Certificate)) ([]byte, crypto.PublicKey) {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: nodeID, OrganizationalUnit: []string{role}, Organization: []string{clusterID}},
			DNSNames:    []string{role, nodeID},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		if mod != nil {
			mod(tmpl)
		}
		cert, key := is.issue(t, tmpl)
		return pemCert(cert), key.Public()
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}

	good, goodPub := nodeCert(root, nil)
	viaInter, viaInterPub := nodeCert(inter, nil)
	wrongCN, wrongCNPub := nodeCert(root, func(c *x509.Certificate) { c.Subject.CommonName = "node2" })
	twoOUs, twoOUsPub := nodeCert(root, func(c *x509.Certificate) { c.Subject.OrganizationalUnit = []string{role, "swarm-worker"} })
	wrongO, wrongOPub := nodeCert(root, func(c *x509.Certificate) { c.Subject.Organization = []string{"cluster2"} })
	noSAN, noSANPub := nodeCert(root, func(c *x509.Certificate) { c.DNSNames = nil })
	clientOnly, clientOnlyPub := nodeCert(root, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} })
	fromOther, fromOtherPub := nodeCert(other, nil)
	keyBlock := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	junkCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})

	tests := []struct {
		name      string
		answer    []byte
		pub       crypto.PublicKey
		wantCerts int    // on success
		wantErr   string // in the message on failure
	}{
		{name: "as asked", answer: good, pub: goodPub, wantCerts: 1},
		{name: "with intermediate", answer: slices.Concat(viaInter, inter.certPEM), pub: viaInterPub, wantCerts: 2},
		{name: "intermediate missing", answer: viaInter, pub: viaInterPub, wantErr: "not valid for the cluster's root CA"},
		{name: "other CN", answer: wrongCN, pub: wrongCNPub, wantErr: `CN="node2"`},
		{name: "two OUs", answer: twoOUs, pub: twoOUsPub, wantErr: "OU="},
		{name: "other O", answer: wrongO, pub: wrongOPub, wantErr: "cluster2"},
		{name: "other key", answer: good, pub: otherKey.Public(), wantErr: "another public key"},
		{name: "no role DNS name", answer: noSAN, pub: noSANPub, wantErr: "not valid for the cluster's root CA"},
		{name: "client auth only", answer: clientOnly, pub: clientOnlyPub, wantErr: "not valid for the cluster's root CA"},
		{name: "other root", answer: fromOther, pub: fromOtherPub, wantErr: "not valid for the cluster's root CA"},
		{name: "empty", answer: nil, pub: goodPub, wantErr: "no certificate"},
		{name: "key in the answer", answer: slices.Concat(good, keyBlock), pub: goodPub, wantErr: `"EC PRIVATE KEY"`},
		{name: "unparsable certificate", answer: junkCert, pub: goodPub, wantErr: "certificate 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := request{pub: tt.pub, cn: nodeID, ou: role, o: clusterID}
			chain, err := checkChain(tt.answer, want, root.pool())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one mentioning %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("checkChain: %v", err)
			}
			if got := len(parseChain(t, chain)); got != tt.wantCerts {
				t.Errorf("got %d certificates back, want %d", got, tt.wantCerts)
			}
		})
	}
}
