package externalca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const (
	nodeID    = "node1"
	role      = "swarm-manager"
	clusterID = "cluster1"
)

func TestSign(t *testing.T) {
	root, other := newRoot(t), newRoot(t)
	inter := root.intermediate(t)
	good := serve(t, cfsslHandler(t, root))
	otherRoot := serve(t, cfsslHandler(t, other))
	chained := serve(t, withChain(t, cfsslHandler(t, inter), inter.certPEM))
	unchained := serve(t, cfsslHandler(t, inter))
	dead1, dead2 := deadURL(t), deadURL(t)
	restricted := &swarm.ExternalCA{Protocol: "cfssl", URL: good, Options: map[string]string{"profile": profileRestricted}}

	tests := []struct {
		name      string
		cas       []*swarm.ExternalCA
		wantChain int          // certificates returned, on success
		wantKind  errdefs.Kind // on failure
		wantErr   []string     // in the message, on failure
	}{
		{name: "signs", cas: []*swarm.ExternalCA{cfsslCA(good)}, wantChain: 1},
		{name: "first down, second signs", cas: []*swarm.ExternalCA{cfsslCA(dead1), cfsslCA(good)}, wantChain: 1},
		{name: "intermediate returned and kept", cas: []*swarm.ExternalCA{cfsslCA(chained)}, wantChain: 2},
		{
			name:     "refused by CFSSL",
			cas:      []*swarm.ExternalCA{restricted},
			wantKind: errdefs.KindPrecondition,
			wantErr:  []string{good, "Request does not match policy whitelist"},
		},
		{
			name:     "signed by another root",
			cas:      []*swarm.ExternalCA{cfsslCA(otherRoot)},
			wantKind: errdefs.KindPrecondition,
			wantErr:  []string{otherRoot, "not valid for the cluster's root CA"},
		},
		{
			name:     "intermediate not returned",
			cas:      []*swarm.ExternalCA{cfsslCA(unchained)},
			wantKind: errdefs.KindPrecondition,
			wantErr:  []string{unchained, "not valid for the cluster's root CA"},
		},
		{
			name:     "all down",
			cas:      []*swarm.ExternalCA{cfsslCA(dead1), cfsslCA(dead2)},
			wantKind: errdefs.KindUnavailable,
			wantErr:  []string{dead1, dead2, "connection refused"},
		},
		{
			name:     "refused, then down",
			cas:      []*swarm.ExternalCA{restricted, cfsslCA(dead1)},
			wantKind: errdefs.KindPrecondition,
			wantErr:  []string{good, "whitelist", dead1, "connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSigner(t, tt.cas, root.pool(), nil)
			csrPEM, pub := csr(t)
			chain, err := s.Sign(t.Context(), csrPEM, nodeID, role, clusterID)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("got a certificate, want an error")
				}
				t.Logf("error: %v", err)
				if got := errdefs.KindOf(err); got != tt.wantKind {
					t.Errorf("got kind %v, want %v (error: %v)", got, tt.wantKind, err)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("got error %q, want it to mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			certs := parseChain(t, chain)
			if len(certs) != tt.wantChain {
				t.Fatalf("got %d certificates, want %d", len(certs), tt.wantChain)
			}
			checkNodeCert(t, certs, root.pool(), pub)
		})
	}
}

// checkNodeCert checks a returned chain independently of checkChain.
func checkNodeCert(t *testing.T, certs []*x509.Certificate, trust *x509.CertPool, pub any) {
	t.Helper()
	leaf := certs[0]
	s := leaf.Subject
	if s.CommonName != nodeID || !slices.Equal(s.OrganizationalUnit, []string{role}) || !slices.Equal(s.Organization, []string{clusterID}) {
		t.Errorf("got subject %v, want CN=%s OU=%s O=%s", s, nodeID, role, clusterID)
	}
	if !publicKeysEqual(leaf.PublicKey, pub) {
		t.Errorf("got a certificate for another key than the CSR's")
	}
	if !slices.Contains(leaf.DNSNames, role) || !slices.Contains(leaf.DNSNames, nodeID) {
		t.Errorf("got DNS names %q, want %q and %q", leaf.DNSNames, role, nodeID)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: trust, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		t.Errorf("the certificate does not verify against the root: %v", err)
	}
}

func TestSignProfile(t *testing.T) {
	root := newRoot(t)
	url := serve(t, cfsslHandler(t, root))
	tests := []struct {
		name    string
		options map[string]string
		short   bool
	}{
		{name: "default profile", options: nil, short: false},
		{name: "named profile", options: map[string]string{"profile": profileShort}, short: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSigner(t, []*swarm.ExternalCA{{Protocol: "cfssl", URL: url, Options: tt.options}}, root.pool(), nil)
			csrPEM, _ := csr(t)
			chain, err := s.Sign(t.Context(), csrPEM, nodeID, role, clusterID)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			leaf := parseChain(t, chain)[0]
			// The short profile issues for one hour (plus CFSSL's backdate),
			// the default one for a year.
			validity := leaf.NotAfter.Sub(leaf.NotBefore)
			if got := validity < 2*time.Hour; got != tt.short {
				t.Errorf("got a certificate valid for %s, want the short profile: %v", validity, tt.short)
			}
		})
	}
}

func TestSignTimeout(t *testing.T) {
	root := newRoot(t)
	// The server notices a client gone only once the body has been read.
	release := make(chan struct{})
	hung := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for its handlers
	good := serve(t, cfsslHandler(t, root))

	s := newSigner(t, []*swarm.ExternalCA{cfsslCA(hung), cfsslCA(good)}, root.pool(), nil)
	s.timeout = 100 * time.Millisecond
	csrPEM, pub := csr(t)
	chain, err := s.Sign(t.Context(), csrPEM, nodeID, role, clusterID)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	checkNodeCert(t, parseChain(t, chain), root.pool(), pub)

	s = newSigner(t, []*swarm.ExternalCA{cfsslCA(hung)}, root.pool(), nil)
	s.timeout = 100 * time.Millisecond
	_, err = s.Sign(t.Context(), csrPEM, nodeID, role, clusterID)
	if !errdefs.Is(err, errdefs.KindUnavailable) || !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("got error %v, want Unavailable saying the CA did not answer in time", err)
	}
}

func TestSignTLS(t *testing.T) {
	root, other := newRoot(t), newRoot(t)
	clientCert, clientKey := root.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "manager1", OrganizationalUnit: []string{role}, Organization: []string{clusterID}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	managerCert := &tls.Certificate{Certificate: [][]byte{clientCert.Raw}, PrivateKey: clientKey}
	requireClient := func(c tls.Certificate) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{c}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: root.pool()}
	}

	tests := []struct {
		name       string
		server     *tls.Config
		caCert     []byte
		clientCert func() *tls.Certificate
		wantClient string // CN the CA must have seen, when it asks for one
		wantErr    string // in the message; the kind is then Unavailable
	}{
		{
			name:   "CA certificate from the cluster root",
			server: &tls.Config{Certificates: []tls.Certificate{root.serverCert(t)}},
		},
		{
			name:   "CA certificate from the entry's CACert",
			server: &tls.Config{Certificates: []tls.Certificate{other.serverCert(t)}},
			caCert: other.certPEM,
		},
		{
			name:    "CA certificate from an unknown root",
			server:  &tls.Config{Certificates: []tls.Certificate{other.serverCert(t)}},
			wantErr: "certificate signed by unknown authority",
		},
		{
			name:       "client certificate presented",
			server:     requireClient(root.serverCert(t)),
			clientCert: func() *tls.Certificate { return managerCert },
			wantClient: "manager1",
		},
		{
			name:       "client certificate required, none held",
			server:     requireClient(root.serverCert(t)),
			clientCert: func() *tls.Certificate { return nil },
			wantErr:    "certificate required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen atomic.Value
			h := cfsslHandler(t, root)
			url := serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if certs := r.TLS.PeerCertificates; len(certs) > 0 {
					seen.Store(certs[0].Subject.CommonName)
				}
				h.ServeHTTP(w, r)
			}), tt.server)
			s := newSigner(t, []*swarm.ExternalCA{{Protocol: "cfssl", URL: url, CACert: string(tt.caCert)}}, root.pool(), tt.clientCert)
			csrPEM, pub := csr(t)
			chain, err := s.Sign(t.Context(), csrPEM, nodeID, role, clusterID)
			if tt.wantErr != "" {
				t.Logf("error: %v", err)
				if !errdefs.Is(err, errdefs.KindUnavailable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want Unavailable mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			checkNodeCert(t, parseChain(t, chain), root.pool(), pub)
			if got, _ := seen.Load().(string); got != tt.wantClient {
				t.Errorf("got client certificate CN %q at the CA, want %q", got, tt.wantClient)
			}
		})
	}
}

func TestSignInvalidRequest(t *testing.T) {
	root := newRoot(t)
	var calls atomic.Int32
	h := cfsslHandler(t, root)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h.ServeHTTP(w, r)
	}))
	s := newSigner(t, []*swarm.ExternalCA{cfsslCA(url)}, root.pool(), nil)
	csrPEM, _ := csr(t)
	block, _ := pem.Decode(csrPEM)
	der := slices.Clone(block.Bytes)
	der[len(der)-1] ^= 0xff // in the signature
	tampered := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der})

	tests := []struct {
		name          string
		csr           []byte
		cn, ou, o     string
		wantInMessage string
	}{
		{name: "no PEM", csr: []byte("not a CSR"), cn: nodeID, ou: role, o: clusterID, wantInMessage: "CERTIFICATE REQUEST"},
		{name: "certificate instead of CSR", csr: root.certPEM, cn: nodeID, ou: role, o: clusterID, wantInMessage: "CERTIFICATE REQUEST"},
		{name: "tampered CSR", csr: tampered, cn: nodeID, ou: role, o: clusterID, wantInMessage: "certificate signing request"},
		{name: "no node ID", csr: csrPEM, cn: "", ou: role, o: clusterID, wantInMessage: "node ID"},
		{name: "no cluster ID", csr: csrPEM, cn: nodeID, ou: role, o: "", wantInMessage: "cluster ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Sign(t.Context(), tt.csr, tt.cn, tt.ou, tt.o)
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Errorf("got error %v, want Invalid mentioning %q", err, tt.wantInMessage)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the CA was asked %d times, want never for an invalid request", n)
	}
}

func TestSignCanceled(t *testing.T) {
	root := newRoot(t)
	s := newSigner(t, []*swarm.ExternalCA{cfsslCA(serve(t, cfsslHandler(t, root)))}, root.pool(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	csrPEM, _ := csr(t)
	_, err := s.Sign(ctx, csrPEM, nodeID, role, clusterID)
	if !errors.Is(err, context.Canceled) || !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Errorf("got error %v, want Unavailable wrapping context.Canceled", err)
	}
}
