package e2e

import (
	"testing"
)

// TestCompat runs existing clients' expectations against one single-node
// swarm: dockerd 20.10's error answers, a node read and updated right
// after init, every spec field read back as written, /distribution
// without a registry, and docker-py driving swarm, nodes, services,
// secrets and configs as its users' scripts do.
func TestCompat(t *testing.T) {
	d := StartDaemon(t)
	initSwarm(t, d)
	t.Run("errors", func(t *testing.T) { compatErrors(t, d) })
}
