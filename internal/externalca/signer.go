package externalca

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const (
	// requestTimeout bounds one attempt, so that a CA that accepts the
	// connection and never answers does not keep the next one from being
	// tried. SwarmKit uses the same.
	requestTimeout = 5 * time.Second

	// maxAnswerSize bounds what is read from a CA: a certificate chain in
	// CFSSL's JSON is a few KiB (SwarmKit's limit).
	maxAnswerSize = 256 << 10
)

// Signer asks the external CAs, in order, to sign node certificates. It is
// safe for concurrent use and holds no connection between calls.
type Signer struct {
	targets []target
	trust   *x509.CertPool // roots a returned certificate must chain to
	timeout time.Duration
	log     *slog.Logger
}

type target struct {
	endpoint
	client *http.Client
}

// New validates cas (see Validate) and prepares to use them. trust holds
// the cluster's root CA certificates: every certificate returned must chain
// to them, and https CAs are trusted if their TLS certificate does, or
// chains to the entry's CACert. clientCert, when non-nil, gives the
// certificate presented to https CAs (the manager's own node certificate, as
// in SwarmKit); it is called at each connection so a renewed certificate is
// used, and may return nil to present none.
func New(cas []*swarm.ExternalCA, trust *x509.CertPool, clientCert func() *tls.Certificate, log *slog.Logger) (*Signer, error) {
	if len(cas) == 0 {
		return nil, errdefs.Invalid("CAConfig.ExternalCAs: no external CA to sign with")
	}
	if trust == nil {
		return nil, errdefs.Invalid("external CA signer needs the cluster's root CA certificates")
	}
	eps, err := parseAll(cas)
	if err != nil {
		return nil, err
	}
	s := &Signer{trust: trust, timeout: requestTimeout, log: log}
	for _, ep := range eps {
		s.targets = append(s.targets, target{endpoint: ep, client: newClient(ep, trust, clientCert)})
	}
	return s, nil
}

func newClient(ep endpoint, trust *x509.CertPool, clientCert func() *tls.Certificate) *http.Client {
	roots := trust.Clone()
	for _, c := range ep.caCerts {
		roots.AddCert(c)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if clientCert != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := clientCert(); c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil
		}
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: conf,
		// Signing is rare; an idle connection kept per CA would outlive a
		// Signer replaced after a spec change.
		DisableKeepAlives: true,
	}}
}

// Sign asks each external CA in turn, until one does, to sign csrPEM as the
// certificate of node cn (CN) with role ou (OU) in cluster o (O), and
// returns the chain PEM, leaf first. An answer counts only if its leaf has
// exactly that subject, the CSR's public key, and chains to the trusted
// roots (with the intermediates that follow it). The error names every CA
// tried and why it failed; it is errdefs.Unavailable when no CA answered,
// errdefs.Precondition when one answered but no acceptable certificate came
// back.
func (s *Signer) Sign(ctx context.Context, csrPEM []byte, cn, ou, o string) ([]byte, error) {
	want, err := newRequest(csrPEM, cn, ou, o)
	if err != nil {
		return nil, err
	}
	var failures []string
	answered := false
	for _, t := range s.targets {
		chain, ok, err := s.signAt(ctx, t, want)
		if err == nil {
			s.log.Debug("node certificate signed by external CA", "url", t.name, "node.id", cn)
			return chain, nil
		}
		if ctx.Err() != nil {
			return nil, errdefs.Unavailable("sign the certificate of node %s with an external CA: %w", cn, ctx.Err())
		}
		s.log.Warn("external CA did not sign a node certificate", "url", t.name, "node.id", cn, "err", err)
		failures = append(failures, fmt.Sprintf("%s: %v", t.name, err))
		answered = answered || ok
	}
	if !answered {
		return nil, errdefs.Unavailable("no external CA could be reached to sign the certificate of node %s: %s", cn, strings.Join(failures, "; "))
	}
	return nil, errdefs.Precondition("no external CA signed the certificate of node %s: %s", cn, strings.Join(failures, "; "))
}

func newRequest(csrPEM []byte, cn, ou, o string) (request, error) {
	if cn == "" || ou == "" || o == "" {
		return request{}, errdefs.Invalid("node certificate needs a node ID, a role and a cluster ID (got %q, %q, %q)", cn, ou, o)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return request{}, errdefs.Invalid("certificate signing request is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return request{}, errdefs.Invalid("parse certificate signing request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return request{}, errdefs.Invalid("certificate signing request signature: %w", err)
	}
	return request{csrPEM: csrPEM, pub: csr.PublicKey, cn: cn, ou: ou, o: o}, nil
}

// CFSSL's sign API (api/signhandler): the subject given here replaces the
// CSR's, and hosts become the certificate's subject alternative names.
type cfsslSignRequest struct {
	CertificateRequest string       `json:"certificate_request"`
	Hosts              []string     `json:"hosts"`
	Subject            cfsslSubject `json:"subject"`
	Profile            string       `json:"profile,omitempty"`
}

type cfsslSubject struct {
	CN    string      `json:"CN"`
	Names []cfsslName `json:"names"`
}

type cfsslName struct {
	O  string `json:"O"`
	OU string `json:"OU"`
}

type cfsslResponse struct {
	Success bool            `json:"success"`
	Result  json.RawMessage `json:"result"`
	Errors  []cfsslMessage  `json:"errors"`
}

type cfsslMessage struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (r cfsslResponse) reasons() string {
	if len(r.Errors) == 0 {
		return "no reason given"
	}
	msgs := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		msgs[i] = fmt.Sprintf("%s (code %d)", e.Message, e.Code)
	}
	return strings.Join(msgs, "; ")
}

// signAt makes one attempt at one CA. answered reports whether the CA
// replied at all (as opposed to being unreachable, timing out or failing in
// a way that says it is down), which decides the error's kind in Sign.
func (s *Signer) signAt(ctx context.Context, t target, want request) (chain []byte, answered bool, err error) {
	body, err := json.Marshal(cfsslSignRequest{
		CertificateRequest: string(want.csrPEM),
		Hosts:              want.hosts(),
		Subject:            cfsslSubject{CN: want.cn, Names: []cfsslName{{O: want.o, OU: want.ou}}},
		Profile:            t.profile,
	})
	if err != nil {
		return nil, false, fmt.Errorf("encode CFSSL sign request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, false, transportError(ctx, err, s.timeout)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize+1))
	if err != nil {
		return nil, false, fmt.Errorf("read answer: %w", transportError(ctx, err, s.timeout))
	}
	if len(raw) > maxAnswerSize {
		return nil, true, fmt.Errorf("answer is larger than %d KiB", maxAnswerSize>>10)
	}
	var r cfsslResponse
	jsonErr := json.Unmarshal(raw, &r)
	if resp.StatusCode != http.StatusOK {
		if jsonErr == nil && len(r.Errors) > 0 {
			return nil, true, fmt.Errorf("CFSSL refused (HTTP %d): %s", resp.StatusCode, r.reasons())
		}
		// A 5xx without CFSSL's own error body comes from something in
		// front of the CA (a proxy, a load balancer): the CA is down.
		return nil, resp.StatusCode < 500, fmt.Errorf("HTTP %d: %s", resp.StatusCode, excerpt(raw))
	}
	if jsonErr != nil {
		return nil, true, fmt.Errorf("answer is not CFSSL's JSON: %w", jsonErr)
	}
	if !r.Success {
		return nil, true, fmt.Errorf("CFSSL refused: %s", r.reasons())
	}
	var result struct {
		Certificate string `json:"certificate"`
	}
	if err := json.Unmarshal(r.Result, &result); err != nil || result.Certificate == "" {
		return nil, true, fmt.Errorf("answer has no result.certificate")
	}
	chain, err = checkChain([]byte(result.Certificate), want, s.trust)
	if err != nil {
		return nil, true, err
	}
	return chain, true, nil
}

// transportError drops the URL that net/http repeats (Sign names it once)
// and says "timed out" rather than "context deadline exceeded" when it was
// this attempt's own deadline.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return err
}

// excerpt is the start of a body for an error message.
func excerpt(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if s == "" {
		return "empty answer"
	}
	return s
}
