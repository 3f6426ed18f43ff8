package agent

import (
	"sync"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
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

// update takes in the secrets and configs of an assignment set, before
// the tasks that use them get controllers: a full set's replace all those
// held (the dispatcher sends one when any is no longer used), another's
// are added, or replace the ones with the same ID.
func (d *dependencies) update(set dispatcher.AssignmentSet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if set.Full {
		clear(d.secrets)
		clear(d.configs)
	}
	for _, s := range set.Secrets {
		d.secrets[s.ID] = &s.Secret
	}
	for _, c := range set.Configs {
		d.configs[c.ID] = &c.Config
	}
}
