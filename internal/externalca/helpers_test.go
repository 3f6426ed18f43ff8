package externalca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
	"time"

	cfapi "github.com/cloudflare/cfssl/api"
	"github.com/cloudflare/cfssl/api/signhandler"
	"github.com/cloudflare/cfssl/config"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
)

func TestMain(m *testing.M) {
	// CFSSL logs every request at info level to the standard logger.
	cflog.Level = cflog.LevelFatal
	os.Exit(m.Run())
}

// Profiles of the test CFSSL policy, besides the default (CFSSL's own:
// one year, server and client auth).
const (
	profileShort      = "short"      // one hour
	profileRestricted = "restricted" // signs only the CN "allowed"
)

// issuer is a CA key and certificate in the forms the tests need.
type issuer struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

func newRoot(t *testing.T) issuer {
	t.Helper()
	r, err := ca.NewRootCA()
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	block, _ := pem.Decode(r.KeyPEM())
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse root key: %v", err)
	}
	return issuer{cert: r.Cert(), certPEM: r.CertPEM(), key: key}
}

func (is issuer) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(is.cert)
	return p
}

// issue signs tmpl for a fresh key.
func (is issuer) issue(t *testing.T, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.cert, key.Public(), is.key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert, key
}

func (is issuer) intermediate(t *testing.T) issuer {
	t.Helper()
	cert, key := is.issue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "intermediate"},
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	})
	return issuer{cert: cert, certPEM: pemCert(cert), key: key}
}

// serverCert is a TLS certificate for 127.0.0.1.
func (is issuer) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	cert, key := is.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "external-ca"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// cfsslHandler is CFSSL's own sign API over a local signer with is's key.
func cfsslHandler(t *testing.T, is issuer) http.Handler {
	t.Helper()
	policy := &config.Signing{
		Default: config.DefaultConfig(),
		Profiles: map[string]*config.SigningProfile{
			profileShort: {
				Usage:        []string{"signing", "key encipherment", "server auth", "client auth"},
				Expiry:       time.Hour,
				ExpiryString: "1h",
			},
			profileRestricted: {
				Usage:         []string{"signing", "key encipherment", "server auth", "client auth"},
				Expiry:        time.Hour,
				ExpiryString:  "1h",
				NameWhitelist: regexp.MustCompile(`^allowed$`),
			},
		},
	}
	s, err := local.NewSigner(is.key, is.cert, signer.DefaultSigAlgo(is.key), policy)
	if err != nil {
		t.Fatalf("CFSSL local signer: %v", err)
	}
	h, err := signhandler.NewHandlerFromSigner(s)
	if err != nil {
		t.Fatalf("CFSSL sign handler: %v", err)
	}
	return h
}

// serve starts h on plain HTTP and returns its sign URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/cfssl/sign"
}

// serveTLS starts h on HTTPS with conf (its certificate and client auth).
func serveTLS(t *testing.T, h http.Handler, conf *tls.Config) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = conf
	// Refused handshakes are what some tests are about, not noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/cfssl/sign"
}

// deadURL is a URL nothing listens on any more.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/api/v1/cfssl/sign"
	srv.Close()
	return u
}

// withChain appends chainPEM to the certificate a CFSSL handler returns, as
// a CA that answers with its intermediates does (CFSSL's local signer
// returns the leaf alone).
func withChain(t *testing.T, h http.Handler, chainPEM []byte) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var resp cfapi.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || !resp.Success {
			w.WriteHeader(rec.Code)
			io.Copy(w, rec.Body)
			return
		}
		result := resp.Result.(map[string]any)
		result["certificate"] = result["certificate"].(string) + string(chainPEM)
		if err := json.NewEncoder(w).Encode(resp); err != nil {
			t.Errorf("encode the chained answer: %v", err)
		}
	})
}

func cfsslCA(url string) *swarm.ExternalCA { return &swarm.ExternalCA{Protocol: "cfssl", URL: url} }

func newSigner(t *testing.T, cas []*swarm.ExternalCA, trust *x509.CertPool, clientCert func() *tls.Certificate) *Signer {
	t.Helper()
	s, err := New(cas, trust, clientCert, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// csr is a fresh node key's request and its public key.
func csr(t *testing.T) ([]byte, crypto.PublicKey) {
	t.Helper()
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatalf("NewKeyAndCSR: %v", err)
	}
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse node key: %v", err)
	}
	return csrPEM, key.Public()
}

func parseChain(t *testing.T, chainPEM []byte) []*x509.Certificate {
	t.Helper()
	certs, err := parseCertsPEM(chainPEM)
	if err != nil {
		t.Fatalf("parse the returned chain: %v", err)
	}
	if len(certs) == 0 {
		t.Fatalf("the returned chain is empty")
	}
	return certs
}
