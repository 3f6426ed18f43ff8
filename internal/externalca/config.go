// Package externalca has node certificates signed by the cluster's external
// certificate authorities (CAConfig.ExternalCAs) instead of a root key held
// by the managers: it forwards a node's CSR to a CFSSL sign endpoint, as
// SwarmKit does, and accepts the answer only if it is a certificate for that
// node, that key and the cluster's root.
package externalca

import (
	"crypto/x509"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// optionProfile names the CFSSL signing profile to ask for. It is the only
// option understood; an unknown one is refused so that a typo is not
// silently ignored.
const optionProfile = "profile"

// endpoint is one validated external CA.
type endpoint struct {
	url     string // as given, for requests
	name    string // the URL with any password redacted, for messages
	profile string
	caCerts []*x509.Certificate // from CACert: extra roots for the CA's TLS certificate
}

// Validate checks a cluster spec's external CAs without contacting them:
// protocol cfssl, an http or https URL with a host, a CACert that is PEM
// certificates, and known options. Errors are errdefs.Invalid and name the
// field.
func Validate(cas []*swarm.ExternalCA) error {
	_, err := parseAll(cas)
	return err
}

func parseAll(cas []*swarm.ExternalCA) ([]endpoint, error) {
	eps := make([]endpoint, 0, len(cas))
	for i, c := range cas {
		ep, err := parse(i, c)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

func parse(i int, c *swarm.ExternalCA) (endpoint, error) {
	if c == nil {
		return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d]: empty entry", i)
	}
	// Docker compares the protocol case-insensitively.
	if !strings.EqualFold(string(c.Protocol), string(swarm.ExternalCAProtocolCFSSL)) {
		return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d].Protocol: %q is not supported, only %q", i, c.Protocol, swarm.ExternalCAProtocolCFSSL)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d].URL: %w", i, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d].URL: %q is not an http or https URL", i, u.Redacted())
	}
	if u.Host == "" {
		return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d].URL: %q has no host", i, u.Redacted())
	}
	ep := endpoint{url: c.URL, name: u.Redacted()}
	for _, k := range slices.Sorted(maps.Keys(c.Options)) {
		if k != optionProfile {
			return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d].Options: unknown option %q (only %q is understood)", i, k, optionProfile)
		}
		ep.profile = c.Options[k]
	}
	if c.CACert != "" {
		certs, err := parseCertsPEM([]byte(c.CACert))
		if err != nil {
			return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d].CACert: %w", i, err)
		}
		if len(certs) == 0 {
			return endpoint{}, errdefs.Invalid("CAConfig.ExternalCAs[%d].CACert: no PEM certificate", i)
		}
		ep.caCerts = certs
	}
	return ep, nil
}
