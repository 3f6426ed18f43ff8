package ca

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"strings"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Join tokens have SwarmKit's format, so tokens look and parse the same as
// Docker's: SWMTKN-1-<root digest, base 36, 50 chars>-<secret, base 36, 25 chars>.
const (
	tokenPrefix       = "SWMTKN"
	tokenVersion      = 1
	tokenBase         = 36
	tokenDigestLen    = 50 // ceil(log36(2^256))
	tokenSecretLen    = 25 // ceil(log36(2^128))
	tokenSecretBytes  = 16
	tokenDigestHexLen = 64
)

// JoinToken is a parsed join token. RootDigest is the hex SHA-256 of the
// root certificate's DER, as RootCA.Digest returns it; Secret is the
// base-36 secret that proves the holder may join.
type JoinToken struct {
	Version    int
	RootDigest string
	Secret     string
}

// NewJoinToken makes a token that pins root and carries a fresh 128-bit
// secret.
func NewJoinToken(root *RootCA) string {
	var b [tokenSecretBytes]byte
	rand.Read(b[:])
	secret := new(big.Int).SetBytes(b[:])
	digest, _ := new(big.Int).SetString(root.Digest(), 16)
	return fmt.Sprintf("%s-%d-%0*s-%0*s", tokenPrefix, tokenVersion,
		tokenDigestLen, digest.Text(tokenBase), tokenSecretLen, secret.Text(tokenBase))
}

// ParseJoinToken checks a token's shape and decodes its root digest.
func ParseJoinToken(s string) (JoinToken, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 4 {
		return JoinToken{}, errdefs.Invalid("invalid join token: want 4 dash-separated parts (%s-%d-<digest>-<secret>), got %d", tokenPrefix, tokenVersion, len(parts))
	}
	if parts[0] != tokenPrefix {
		return JoinToken{}, errdefs.Invalid("invalid join token: prefix is %q, want %q", parts[0], tokenPrefix)
	}
	if parts[1] != fmt.Sprint(tokenVersion) {
		return JoinToken{}, errdefs.Invalid("invalid join token: version is %q, want %d", parts[1], tokenVersion)
	}
	digestPart, secret := parts[2], parts[3]
	if len(digestPart) != tokenDigestLen {
		return JoinToken{}, errdefs.Invalid("invalid join token: root CA digest is %d characters, want %d", len(digestPart), tokenDigestLen)
	}
	if len(secret) != tokenSecretLen {
		return JoinToken{}, errdefs.Invalid("invalid join token: secret is %d characters, want %d", len(secret), tokenSecretLen)
	}
	digest, ok := parseBase36(digestPart)
	if !ok || digest.BitLen() > 256 {
		return JoinToken{}, errdefs.Invalid("invalid join token: root CA digest %q is not a base-36 SHA-256", digestPart)
	}
	if _, ok := parseBase36(secret); !ok {
		return JoinToken{}, errdefs.Invalid("invalid join token: secret is not base 36")
	}
	return JoinToken{
		Version:    tokenVersion,
		RootDigest: fmt.Sprintf("%0*s", tokenDigestHexLen, digest.Text(16)),
		Secret:     secret,
	}, nil
}

// MatchesRoot reports whether the token pins root.
func (t JoinToken) MatchesRoot(root *RootCA) bool {
	return subtle.ConstantTimeCompare([]byte(t.RootDigest), []byte(root.Digest())) == 1
}

// parseBase36 accepts only lowercase base-36 digits, which is all a token
// generator writes; big.Int alone would also take '_' and uppercase.
func parseBase36(s string) (*big.Int, bool) {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return nil, false
		}
	}
	return new(big.Int).SetString(s, tokenBase)
}
