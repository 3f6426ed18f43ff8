// Package registryauth reads the registry credentials a Docker client sends
// (the X-Registry-Auth header and POST /auth's body), carries them on a
// request's context to the code that talks to the registry, and checks a
// login against a registry as docker login expects: the v2 ping, then
// Basic or Bearer-token authentication as the registry challenges.
package registryauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/registry"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Header is the request header that carries encoded credentials.
const Header = "X-Registry-Auth"

// Decode reads an X-Registry-Auth value: base64url-encoded JSON of an
// AuthConfig, padded or not, as the docker CLI and older clients send it.
// An empty value is no credentials.
func Decode(encoded string) (registry.AuthConfig, error) {
	var cfg registry.AuthConfig
	if encoded == "" {
		return cfg, nil
	}
	b, err := base64.URLEncoding.DecodeString(encoded)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(encoded, "="))
	}
	if err != nil {
		return cfg, errdefs.Invalid("invalid %s header: not base64url: %v", Header, err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, errdefs.Invalid("invalid %s header: not an AuthConfig in JSON: %v", Header, err)
	}
	return cfg, nil
}

// Encode is Decode's inverse, for a client that sends credentials.
func Encode(cfg registry.AuthConfig) string {
	b, _ := json.Marshal(cfg) // an AuthConfig of strings always encodes
	return base64.URLEncoding.EncodeToString(b)
}

// Credentials returns the user and secret a registry is given for cfg, as
// containerd's authorizer takes them: an identity token is a refresh token
// sent with no user; an Auth field ("user:password" in base64) stands for
// Username and Password when they are empty.
func Credentials(cfg registry.AuthConfig) (user, secret string) {
	if cfg.IdentityToken != "" {
		return "", cfg.IdentityToken
	}
	if cfg.Username == "" && cfg.Password == "" && cfg.Auth != "" {
		if b, err := base64.StdEncoding.DecodeString(cfg.Auth); err == nil {
			user, secret, _ = strings.Cut(string(b), ":")
			return user, secret
		}
	}
	return cfg.Username, cfg.Password
}

// Host is the registry host a login's server address names, as the docker
// CLI sends it ("127.0.0.1:5000", "https://registry.example.com/v2/",
// "https://index.docker.io/v1/"); Docker Hub's index is served by
// registry-1.docker.io.
func Host(serverAddress string) (string, error) {
	addr := strings.TrimSpace(serverAddress)
	if addr == "" {
		return "registry-1.docker.io", nil
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", errdefs.Invalid("invalid registry server address %q: want host[:port]", serverAddress)
	}
	switch u.Host {
	case "index.docker.io", "docker.io", "registry.hub.docker.com":
		return "registry-1.docker.io", nil
	}
	return u.Host, nil
}

type ctxKey struct{}

// NewContext returns ctx carrying encoded credentials (an X-Registry-Auth
// value) for the registry calls made under it; empty carries none. They
// ride the context so that a pull deep in the task executor gets the
// credentials its service was created with, and are never logged with it.
func NewContext(ctx context.Context, encoded string) context.Context {
	if encoded == "" {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, encoded)
}

// FromContext returns the encoded credentials ctx carries, "" for none.
func FromContext(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}

// FromContextDecoded returns the credentials ctx carries, decoded.
func FromContextDecoded(ctx context.Context) (registry.AuthConfig, error) {
	cfg, err := Decode(FromContext(ctx))
	if err != nil {
		return cfg, fmt.Errorf("registry credentials: %w", err)
	}
	return cfg, nil
}
