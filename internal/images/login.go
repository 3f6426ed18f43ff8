package images

import (
	"context"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/registry"

	"github.com/shoal-project/shoal/internal/registryauth"
)

// loginTimeout bounds a docker login's exchanges with the registry and
// its token server.
const loginTimeout = 30 * time.Second

// Login checks cfg against its registry, reached over plain HTTP when it
// is an insecure registry of this node or on loopback, as pulls are.
func (s *Store) Login(ctx context.Context, cfg registry.AuthConfig) error {
	return registryauth.Login(ctx, cfg, s.plainHTTP, &http.Client{Timeout: loginTimeout})
}
