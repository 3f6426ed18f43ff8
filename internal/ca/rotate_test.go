package ca

import (
	"bytes"
	"crypto/tls"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// chainOf issues a worker certificate from r and returns its chain, DER.
func chainOf(t *testing.T, r *RootCA) [][]byte {
	t.Helper()
	certPEM, keyPEM := issue(t, r, "node1", WorkerRole, 0)
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return c.Certificate
}

func TestCrossSignedCertificatesVerifyUnderEitherRoot(t *testing.T) {
	old, next, other := newRoot(t), newRoot(t), newRoot(t)
	cross, err := old.CrossSign(next)
	if err != nil {
		t.Fatalf("CrossSign: %v", err)
	}
	signer, err := next.WithIntermediate(cross)
	if err != nil {
		t.Fatalf("WithIntermediate: %v", err)
	}
	rotated := chainOf(t, signer)
	plainNew := chainOf(t, next)
	both, err := ParseTrust(append(old.CertPEM(), next.CertPEM()...))
	if err != nil {
		t.Fatalf("ParseTrust of two roots: %v", err)
	}
	tests := []struct {
		name   string
		trust  *Trust
		chain  [][]byte
		wantOK bool
	}{
		{"rotated cert, old root only", old.Trust(), rotated, true},
		{"rotated cert, new root only", next.Trust(), rotated, true},
		{"rotated cert, both roots", both, rotated, true},
		{"new-root cert without the intermediate, old root only", old.Trust(), plainNew, false},
		{"rotated cert, an unrelated root", other.Trust(), rotated, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer, err := tt.trust.Issuer(tt.chain)
			if !tt.wantOK {
				if !errdefs.Is(err, errdefs.KindForbidden) {
					t.Fatalf("got issuer %v, error %v; want a Forbidden error", issuer, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Issuer: %v", err)
			}
			// Whichever path verified, the issuer is the new root's subject
			// and key: that is what tells a rotated certificate apart.
			if !bytes.Equal(issuer.RawSubject, next.Cert().RawSubject) || !bytes.Equal(issuer.RawSubjectPublicKeyInfo, next.Cert().RawSubjectPublicKeyInfo) {
				t.Errorf("got issuer key %x, want the new root's %x", issuer.RawSubjectPublicKeyInfo, next.Cert().RawSubjectPublicKeyInfo)
			}
		})
	}
}

func TestCrossSignNeedsTheOldKey(t *testing.T) {
	old, next := newRoot(t), newRoot(t)
	public, err := ParseRootCA(old.CertPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := public.CrossSign(next); !errdefs.Is(err, errdefs.KindPrecondition) {
		t.Fatalf("got %v, want a Precondition error", err)
	}
}

func TestWithIntermediateRefusesAnotherKey(t *testing.T) {
	old, next, other := newRoot(t), newRoot(t), newRoot(t)
	cross, err := old.CrossSign(next)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WithIntermediate(cross); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Fatalf("got %v, want an Invalid error", err)
	}
}

func TestParseTrust(t *testing.T) {
	a, b := newRoot(t), newRoot(t)
	leaf, _ := issue(t, a, "node1", WorkerRole, 0)
	both, err := ParseTrust(append(a.CertPEM(), b.CertPEM()...))
	if err != nil {
		t.Fatalf("ParseTrust: %v", err)
	}
	if got := len(both.Roots()); got != 2 {
		t.Errorf("got %d roots, want 2", got)
	}
	if !both.HasDigest(a.Digest()) || !both.HasDigest(b.Digest()) {
		t.Error("bundle does not have both roots' digests")
	}
	if a.Trust().HasDigest(b.Digest()) {
		t.Error("a one-root trust has another root's digest")
	}
	if !a.Trust().Equal(a.Trust()) || a.Trust().Equal(both) {
		t.Error("Equal does not compare the bundles")
	}
	for name, in := range map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("not pem"),
		"leaf":           leaf,
		"root then leaf": append(a.CertPEM(), leaf...),
		"key":            a.KeyPEM(),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseTrust(in); !errdefs.Is(err, errdefs.KindInvalid) {
				t.Fatalf("got %v, want an Invalid error", err)
			}
		})
	}
}
