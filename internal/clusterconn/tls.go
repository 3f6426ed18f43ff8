// Package clusterconn is the transport between Shoal nodes: one TLS port
// (2377) whose connections are split by ALPN between gRPC ("h2"), raft
// ("shoal-raft") and image blobs ("shoal-blob"), with the TLS
// configurations that tie all three to the cluster's root CA.
package clusterconn

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/shoal-project/shoal/internal/ca"
)

// DefaultPort is the cluster port, as in Docker Swarm.
const DefaultPort = 2377

// ALPN protocol names that select what a connection carries.
const (
	ProtoGRPC = "h2"
	ProtoRaft = "shoal-raft"
	// ProtoBlob carries one image blob per connection, raw bytes after a
	// request line (internal/imagepeer): no HTTP/2 framing or flow
	// control between a holder's content store and the fetching node.
	ProtoBlob = "shoal-blob"
)

// serverName is the name every client checks on the server's certificate:
// only managers serve the cluster port, and only manager certificates carry
// this DNS name.
const serverName = string(ca.ManagerRole)

// ServerTLS is the listener's configuration for a manager holding cert. A
// client certificate is verified against the trusted roots when one is
// presented; a joining node presents none and reaches only the methods the
// gRPC policy opens to ca.Anonymous. The roots are sent after the chain so
// that a joining node can check one against its join token
// (ClientTLSPinned).
func ServerTLS(trust *ca.Trust, cert tls.Certificate) *tls.Config {
	chain := cert.Certificate[:len(cert.Certificate):len(cert.Certificate)]
	for _, r := range trust.Roots() {
		if !slices.ContainsFunc(chain, func(der []byte) bool { return isCert(der, r) }) {
			chain = append(chain, r.Raw)
		}
	}
	cert.Certificate = chain
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    trust.Pool(),
		NextProtos:   []string{ProtoGRPC, ProtoRaft, ProtoBlob},
	}
}

// ClientTLS is a node's configuration for connecting to a manager and
// speaking proto. cert is nil for a node that has no certificate yet.
func ClientTLS(trust *ca.Trust, cert *tls.Certificate, proto string) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    trust.Pool(),
		ServerName: serverName,
		NextProtos: []string{proto},
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// ClientTLSNode is ClientTLS for connecting to the node nodeID, worker or
// manager (the image peers): every node's certificate names its node ID,
// so the connection reaches the node chosen and no other.
func ClientTLSNode(trust *ca.Trust, cert *tls.Certificate, proto, nodeID string) *tls.Config {
	c := ClientTLS(trust, cert, proto)
	c.ServerName = nodeID
	return c
}

// ClientTLSPinned is the configuration of a joining node that knows the
// root only by the digest in its join token (ca.JoinToken.RootDigest): the
// server must present a chain that ends in a root with that digest and a
// manager certificate signed by it. The node fetches the root over this
// connection and uses ClientTLS from then on.
func ClientTLSPinned(rootDigest string, proto string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Verification is not skipped: VerifyConnection below does it
		// against the pinned root instead of a pool we do not have yet.
		InsecureSkipVerify: true,
		NextProtos:         []string{proto},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs.PeerCertificates, rootDigest)
		},
	}
}

func verifyPinned(chain []*x509.Certificate, rootDigest string) error {
	if len(chain) == 0 {
		return errors.New("the manager presented no certificate")
	}
	// During a root rotation the chain holds a cross-signed intermediate
	// between the leaf and the pinned root.
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, c := range chain[1:] {
		sum := sha256.Sum256(c.Raw)
		if hex.EncodeToString(sum[:]) != rootDigest {
			continue
		}
		pool := x509.NewCertPool()
		pool.AddCert(c)
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: serverName})
		if err != nil {
			return fmt.Errorf("the manager's certificate does not verify against the root CA in the join token: %w", err)
		}
		return nil
	}
	return fmt.Errorf("the manager's root CA does not match the join token (want digest %s): wrong token or wrong cluster", rootDigest)
}

func isCert(der []byte, c *x509.Certificate) bool {
	return string(der) == string(c.Raw)
}
