package dispatcher

import (
	"slices"

	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// A node is sent the secrets and configs its tasks use, and only those
// (SwarmKit's rule: a secret reaches only a node that runs a task using
// it). A task uses them until it ends: an ended task never prepares a
// container again, and the files of the one it ran are already in place,
// so the node stops holding a secret once the last task using it ends.

// dependencyIDs returns the IDs of the secrets and configs that tasks
// use, sorted and without repeats.
func dependencyIDs(tasks []*store.Task) (secrets, configs []string) {
	for _, t := range tasks {
		cs := t.Spec.ContainerSpec
		if cs == nil || taskstate.Terminal(t.Status.State) {
			continue
		}
		for _, r := range cs.Secrets {
			if r != nil && r.SecretID != "" {
				secrets = append(secrets, r.SecretID)
			}
		}
		for _, r := range cs.Configs {
			if r != nil && r.ConfigID != "" {
				configs = append(configs, r.ConfigID)
			}
		}
	}
	slices.Sort(secrets)
	slices.Sort(configs)
	return slices.Compact(secrets), slices.Compact(configs)
}

// readDependencies reads the secrets and configs that tasks use, by ID,
// leaving out those that no longer exist (a secret removed while a task of
// a deleted service still runs).
func readDependencies(tx store.ReadTx, tasks []*store.Task) ([]*store.Secret, []*store.Config) {
	secretIDs, configIDs := dependencyIDs(tasks)
	var secrets []*store.Secret
	for _, id := range secretIDs {
		if s := store.Get[*store.Secret](tx, id); s != nil {
			secrets = append(secrets, s)
		}
	}
	var configs []*store.Config
	for _, id := range configIDs {
		if c := store.Get[*store.Config](tx, id); c != nil {
			configs = append(configs, c)
		}
	}
	return secrets, configs
}

// usesAny reports whether an assigned task refers to one of the secrets or
// configs, ended or not: its node may hold them, or may have to drop them.
func usesAny(t *store.Task, secrets, configs map[string]bool) bool {
	cs := t.Spec.ContainerSpec
	if t.NodeID == "" || cs == nil {
		return false
	}
	for _, r := range cs.Secrets {
		if r != nil && secrets[r.SecretID] {
			return true
		}
	}
	for _, r := range cs.Configs {
		if r != nil && configs[r.ConfigID] {
			return true
		}
	}
	return false
}
