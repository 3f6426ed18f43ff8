package apitls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The files of a certificate directory, named as Docker's documentation
// ("Protect the Docker daemon socket") names them: a client points
// DOCKER_CERT_PATH at a directory of ca.pem, cert.pem and key.pem.
const (
	CAFile         = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerCertFile = "server-cert.pem"
	ServerKeyFile  = "server-key.pem"
	ClientCertFile = "cert.pem"
	ClientKeyFile  = "key.pem"
)

// caValidity is how long a CA made by Init lasts: longer than the
// certificates it signs, so that they can be renewed under it.
const caValidity = 10 * 365 * 24 * time.Hour

// Init makes dir a new CA (ca.pem, ca-key.pem) with a server certificate
// for hosts (server-cert.pem, server-key.pem; each host an IP address or
// a DNS name) and a client certificate named client (cert.pem, key.pem),
// each valid for validity from now. It refuses to overwrite any of them.
func Init(dir string, hosts []string, client string, validity time.Duration, now time.Time) error {
	if len(hosts) == 0 {
		return errors.New("the server certificate needs at least one host (an IP address or DNS name clients connect to)")
	}
	if client == "" {
		return errors.New("the client certificate needs a name")
	}
	if validity <= 0 {
		return fmt.Errorf("validity %s: must be positive", validity)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := absent(dir, CAFile, CAKeyFile, ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile); err != nil {
		return err
	}
	caKey, err := newKey()
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Shoal API CA"},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caCert, err := sign(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	if err := writePair(dir, ServerCertFile, ServerKeyFile, server, caCert, caKey); err != nil {
		return err
	}
	if err := writePair(dir, ClientCertFile, ClientKeyFile, clientTemplate(client, validity, now), caCert, caKey); err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, CAKeyFile), caKey); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, CAFile), 0o444, &pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
}

// IssueClient signs a client certificate named name with the CA of caDir
// (made by Init) and writes it to outDir as a DOCKER_CERT_PATH: ca.pem,
// cert.pem and key.pem. It refuses to overwrite them.
func IssueClient(caDir, outDir, name string, validity time.Duration, now time.Time) error {
	if name == "" {
		return errors.New("the client certificate needs a name")
	}
	if validity <= 0 {
		return fmt.Errorf("validity %s: must be positive", validity)
	}
	caPEM, err := os.ReadFile(filepath.Join(caDir, CAFile))
	if err != nil {
		return err
	}
	caCert, err := parseCert(caPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(caDir, CAFile), err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(caDir, CAKeyFile))
	if err != nil {
		return err
	}
	caKey, err := parseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(caDir, CAKeyFile), err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if err := absent(outDir, CAFile, ClientCertFile, ClientKeyFile); err != nil {
		return err
	}
	if err := writePair(outDir, ClientCertFile, ClientKeyFile, clientTemplate(name, validity, now), caCert, caKey); err != nil {
		return err
	}
	return writePEM(filepath.Join(outDir, CAFile), 0o444, &pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
}

func clientTemplate(name string, validity time.Duration, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// writePair makes a key, signs tmpl for it with the CA and writes both.
func writePair(dir, certName, keyName string, tmpl, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := newKey()
	if err != nil {
		return err
	}
	cert, err := sign(tmpl, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, keyName), key); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, certName), 0o444, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	return writePEM(path, 0o400, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func parseCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM key")
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	// A CA made with openssl as Docker's documentation shows: PKCS#1 RSA
	// or PKCS#8.
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("unreadable key (an unencrypted EC, RSA or PKCS#8 key is needed): %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return s, nil
}

func absent(dir string, names ...string) error {
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: not overwriting it (choose an empty directory)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func writePEM(path string, mode os.FileMode, b *pem.Block) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
