package agent

import (
	"sync"

	"github.com/moby/moby/api/types/swarm"
)

// dependencies holds the secrets and configs the sessions brought, for the
// task controllers (executor.Dependencies).
type dependencies struct {
	mu      sync.RWMutex
	secrets map[string]*swarm.Secret // guarded by mu
	configs map[string]*swarm.Config // guarded by mu
}

func newDependencies() *dependencies {
	return &dependencies{secrets: map[string]*swarm.Secret{}, configs: map[string]*swarm.Config{}}
}

// Secret returns the secret with the ID, data included.
func (d *dependencies) Secret(id string) (*swarm.Secret, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, ok := d.secrets[id]
	return s, ok
}

// Config returns the config with the ID, data included.
func (d *dependencies) Config(id string) (*swarm.Config, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	c, ok := d.configs[id]
	return c, ok
}
