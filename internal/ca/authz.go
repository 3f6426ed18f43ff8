package ca

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Anonymous stands in a policy for a caller that presented no client
// certificate: a joining node asking the CA for its first certificate.
// Listing it lets such callers in; it is never a certificate's role.
const Anonymous Role = "anonymous"

// Policy says, by full gRPC method name ("/pkg.Service/Method"), which roles
// may call each method. A method that is not listed is denied to everyone.
type Policy map[string][]Role

// IdentityFromContext returns the identity of the caller of a gRPC handler,
// from its verified client certificate.
func IdentityFromContext(ctx context.Context) (Identity, error) {
	cert, err := peerCert(ctx)
	if err != nil {
		return Identity{}, err
	}
	if cert == nil {
		return Identity{}, errdefs.Forbidden("the caller presented no client certificate")
	}
	return IdentityFromCert(cert)
}

// peerCert returns the caller's verified leaf certificate, or nil if it
// presented none. Only verified chains count: a certificate the TLS layer
// did not verify against the root must never carry a role.
func peerCert(ctx context.Context) (*x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, errdefs.Forbidden("no peer in the call's context")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, errdefs.Forbidden("the connection is not TLS (auth info %T)", p.AuthInfo)
	}
	if len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, nil
	}
	return info.State.VerifiedChains[0][0], nil
}

// Authorize decides whether a caller may call method under policy. cert is
// the caller's verified certificate, nil when it presented none. The error
// is a gRPC status: Unauthenticated when a certificate is needed and
// missing, PermissionDenied otherwise.
func Authorize(policy Policy, method string, cert *x509.Certificate) error {
	allowed, ok := policy[method]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "method %s is not in the authorization policy: denied", method)
	}
	if cert == nil {
		if slices.Contains(allowed, Anonymous) {
			return nil
		}
		return status.Errorf(codes.Unauthenticated, "method %s needs a client certificate with role %s", method, rolesText(allowed))
	}
	id, err := IdentityFromCert(cert)
	if err != nil {
		return status.Errorf(codes.PermissionDenied, "method %s: %v", method, err)
	}
	// A node that holds a certificate is no longer anonymous: a certificate
	// of the wrong role does not fall back to the anonymous allowance.
	if slices.Contains(allowed, id.Role) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "method %s is not allowed for node %s with role %s (allowed: %s)", method, id.NodeID, id.Role, rolesText(allowed))
}

// RequireRole returns server interceptors that enforce policy on every
// unary and streaming call.
func RequireRole(policy Policy) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	check := func(ctx context.Context, method string) error {
		cert, err := peerCert(ctx)
		if err != nil {
			return status.Errorf(codes.Unauthenticated, "method %s: %v", method, err)
		}
		return Authorize(policy, method, cert)
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
	return unary, stream
}

func rolesText(roles []Role) string {
	if len(roles) == 0 {
		return "(none)"
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return strings.Join(names, " or ")
}
