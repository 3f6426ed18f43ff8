package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func parsedCert(t *testing.T, root *RootCA, nodeID string, role Role) *x509.Certificate {
	t.Helper()
	certPEM, _ := issue(t, root, nodeID, role, 0)
	c, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAuthorize(t *testing.T) {
	root := newRoot(t)
	manager := parsedCert(t, root, "m1", ManagerRole)
	worker := parsedCert(t, root, "w1", WorkerRole)
	policy := Policy{
		"/raft/Forward":   {ManagerRole},
		"/dispatcher/Hb":  {ManagerRole, WorkerRole},
		"/ca/Issue":       {Anonymous, ManagerRole, WorkerRole},
		"/ca/RootOnly":    {Anonymous},
		"/nobody/Allowed": nil,
	}
	tests := []struct {
		name    string
		method  string
		cert    *x509.Certificate
		want    codes.Code
		wantMsg string
	}{
		{"manager on manager method", "/raft/Forward", manager, codes.OK, ""},
		{"worker on manager method", "/raft/Forward", worker, codes.PermissionDenied, "not allowed for node w1 with role swarm-worker"},
		{"no cert on manager method", "/raft/Forward", nil, codes.Unauthenticated, "needs a client certificate"},
		{"worker on shared method", "/dispatcher/Hb", worker, codes.OK, ""},
		{"no cert on join method", "/ca/Issue", nil, codes.OK, ""},
		{"worker on join method", "/ca/Issue", worker, codes.OK, ""},
		{"anonymous-only method with cert", "/ca/RootOnly", manager, codes.PermissionDenied, "not allowed"},
		{"method missing from policy", "/raft/Other", manager, codes.PermissionDenied, "not in the authorization policy"},
		{"method allowed for no one", "/nobody/Allowed", manager, codes.PermissionDenied, "(none)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Authorize(policy, tt.method, tt.cert)
			if got := status.Code(err); got != tt.want {
				t.Fatalf("got code %v (%v), want %v", got, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestIdentityFromContext(t *testing.T) {
	root := newRoot(t)
	worker := parsedCert(t, root, "w1", WorkerRole)
	withTLS := func(chains [][]*x509.Certificate) context.Context {
		info := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: chains}}
		return peer.NewContext(t.Context(), &peer.Peer{AuthInfo: info})
	}

	id, err := IdentityFromContext(withTLS([][]*x509.Certificate{{worker, root.Cert()}}))
	if err != nil {
		t.Fatalf("IdentityFromContext: %v", err)
	}
	if want := (Identity{NodeID: "w1", Role: WorkerRole, ClusterID: "cluster1"}); id != want {
		t.Errorf("got %+v, want %+v", id, want)
	}

	for name, ctx := range map[string]context.Context{
		"no peer":        t.Context(),
		"no certificate": withTLS(nil),
		"not TLS":        peer.NewContext(t.Context(), &peer.Peer{}),
		// Presented but not verified against the root: it must carry
		// no identity.
		"unverified certificate": peer.NewContext(t.Context(), &peer.Peer{AuthInfo: credentials.TLSInfo{
			State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{worker}}}}),
	} {
		t.Run(name, func(t *testing.T) {
			if id, err := IdentityFromContext(ctx); err == nil {
				t.Errorf("got identity %+v, want an error", id)
			}
		})
	}
}
