package ca

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func newRoot(t *testing.T) *RootCA {
	t.Helper()
	root, err := NewRootCA()
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return root
}

func issue(t *testing.T, root *RootCA, nodeID string, role Role, expiry time.Duration) (certPEM, keyPEM []byte) {
	t.Helper()
	keyPEM, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		t.Fatalf("NewKeyAndCSR: %v", err)
	}
	certPEM, err = root.IssueNodeCert(csrPEM, nodeID, role, "cluster1", expiry)
	if err != nil {
		t.Fatalf("IssueNodeCert: %v", err)
	}
	return certPEM, keyPEM
}

func TestNewRootCA(t *testing.T) {
	root := newRoot(t)
	c := root.Cert()
	if c.Subject.CommonName != "swarm-ca" {
		t.Errorf("got CN %q, want swarm-ca", c.Subject.CommonName)
	}
	if !c.IsCA {
		t.Error("root is not a CA certificate")
	}
	if years := c.NotAfter.Sub(time.Now()).Hours() / 24 / 365; years < 19.9 || years > 20.1 {
		t.Errorf("got root validity %.1f years, want 20", years)
	}
	if got := len(root.Digest()); got != 64 {
		t.Errorf("got digest of %d hex chars, want 64", got)
	}

	again, err := ParseRootCA(root.CertPEM(), root.KeyPEM())
	if err != nil {
		t.Fatalf("ParseRootCA of a new root: %v", err)
	}
	if again.Digest() != root.Digest() || !again.CanSign() {
		t.Errorf("parsed root differs: digest %s, can sign %v", again.Digest(), again.CanSign())
	}
}

func TestParseRootCARejects(t *testing.T) {
	root, other := newRoot(t), newRoot(t)
	leaf, _ := issue(t, root, "node1", WorkerRole, 0)
	tests := []struct {
		name            string
		certPEM, keyPEM []byte
	}{
		{"garbage", []byte("not pem"), nil},
		{"leaf certificate", leaf, nil},
		{"key of another root", root.CertPEM(), other.KeyPEM()},
		{"garbage key", root.CertPEM(), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRootCA(tt.certPEM, tt.keyPEM)
			if !errdefs.Is(err, errdefs.KindInvalid) {
				t.Fatalf("got error %v, want an Invalid error", err)
			}
		})
	}
}

func TestIssueNodeCert(t *testing.T) {
	root := newRoot(t)
	for _, role := range []Role{ManagerRole, WorkerRole} {
		t.Run(string(role), func(t *testing.T) {
			certPEM, _ := issue(t, root, "node1", role, 0)
			cert, err := parseCertPEM(certPEM)
			if err != nil {
				t.Fatalf("parse the issued certificate: %v", err)
			}
			id, err := IdentityFromCert(cert)
			if err != nil {
				t.Fatalf("IdentityFromCert: %v", err)
			}
			want := Identity{NodeID: "node1", Role: role, ClusterID: "cluster1"}
			if diff := cmp.Diff(want, id); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if got, want := cert.DNSNames, []string{string(role), "node1"}; !slices.Equal(got, want) {
				t.Errorf("got DNS SANs %v, want %v", got, want)
			}
			if err := cert.VerifyHostname(string(role)); err != nil {
				t.Errorf("certificate is not valid for host %s: %v", role, err)
			}
			for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := cert.Verify(x509.VerifyOptions{Roots: root.Pool(), KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
					t.Errorf("chain does not verify for usage %v: %v", u, err)
				}
			}
			if !cert.NotBefore.Before(time.Now().Add(-30 * time.Minute)) {
				t.Errorf("got NotBefore %v, want it backdated", cert.NotBefore)
			}
			if days := cert.NotAfter.Sub(time.Now()).Hours() / 24; days < 89.9 || days > 90.1 {
				t.Errorf("got validity %.1f days, want the default 90", days)
			}
		})
	}
}

func TestIssueNodeCertRejects(t *testing.T) {
	root := newRoot(t)
	external, err := ParseRootCA(root.CertPEM(), nil)
	if err != nil {
		t.Fatalf("ParseRootCA without key: %v", err)
	}
	_, csr, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		root      *RootCA
		csr       []byte
		nodeID    string
		role      Role
		clusterID string
		expiry    time.Duration
		want      errdefs.Kind
	}{
		{"external root", external, csr, "n", WorkerRole, "c", 0, errdefs.KindPrecondition},
		{"unknown role", root, csr, "n", Role("swarm-admin"), "c", 0, errdefs.KindInvalid},
		{"anonymous role", root, csr, "n", Anonymous, "c", 0, errdefs.KindInvalid},
		{"no node ID", root, csr, "", WorkerRole, "c", 0, errdefs.KindInvalid},
		{"no cluster ID", root, csr, "n", WorkerRole, "", 0, errdefs.KindInvalid},
		{"negative expiry", root, csr, "n", WorkerRole, "c", -time.Hour, errdefs.KindInvalid},
		{"garbage CSR", root, []byte("nope"), "n", WorkerRole, "c", 0, errdefs.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.root.IssueNodeCert(tt.csr, tt.nodeID, tt.role, tt.clusterID, tt.expiry)
			if got := errdefs.KindOf(err); got != tt.want {
				t.Fatalf("got error %v (kind %d), want kind %d", err, got, tt.want)
			}
		})
	}
}

func TestIdentityFromCertRejects(t *testing.T) {
	root := newRoot(t)
	certPEM, _ := issue(t, root, "node1", WorkerRole, 0)
	good, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(c *x509.Certificate)
	}{
		{"no CN", func(c *x509.Certificate) { c.Subject.CommonName = "" }},
		{"no OU", func(c *x509.Certificate) { c.Subject.OrganizationalUnit = nil }},
		{"two OUs", func(c *x509.Certificate) {
			c.Subject.OrganizationalUnit = []string{"swarm-worker", "swarm-manager"}
		}},
		{"unknown OU", func(c *x509.Certificate) { c.Subject.OrganizationalUnit = []string{"swarm-ca"} }},
		{"anonymous OU", func(c *x509.Certificate) { c.Subject.OrganizationalUnit = []string{string(Anonymous)} }},
		{"no O", func(c *x509.Certificate) { c.Subject.Organization = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *good
			tt.mutate(&c)
			if _, err := IdentityFromCert(&c); !errdefs.Is(err, errdefs.KindForbidden) {
				t.Fatalf("got error %v, want Forbidden", err)
			}
		})
	}
}

func TestNeedsRenewal(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := &x509.Certificate{NotBefore: start, NotAfter: start.Add(100 * time.Hour)}
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"before validity", start.Add(-time.Hour), false},
		{"fresh", start, false},
		{"just before half", start.Add(50*time.Hour - time.Second), false},
		{"at half", start.Add(50 * time.Hour), true},
		{"past half", start.Add(80 * time.Hour), true},
		{"expired", start.Add(200 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRenewal(cert, tt.now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
