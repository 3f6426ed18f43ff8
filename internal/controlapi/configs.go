package controlapi

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/store"
)

// Configs are secrets' twins that are not secret: reads return their
// data.

// CreateConfig validates spec and stores a new config, and returns its ID.
func (a *API) CreateConfig(ctx context.Context, spec swarm.ConfigSpec) (string, error) {
	if err := validateConfigSpec(spec); err != nil {
		return "", err
	}
	cfg := &store.Config{Config: swarm.Config{ID: identity.NewID(), Spec: clone(spec)}}
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		if len(configsNamed(tx.ReadTx, spec.Name)) > 0 {
			return alreadyExists("config", spec.Name)
		}
		return tx.Put(cfg)
	})
	if err != nil {
		return "", err
	}
	a.log.Info("config created", "config.id", cfg.ID, "config.name", spec.Name)
	return cfg.ID, nil
}

// GetConfig returns the config ref names (ID, name or unique ID prefix).
func (a *API) GetConfig(ctx context.Context, ref string) (swarm.Config, error) {
	var (
		cfg *store.Config
		err error
	)
	a.store.View(func(tx store.ReadTx) { cfg, err = findConfig(tx, ref) })
	if err != nil {
		return swarm.Config{}, err
	}
	return cfg.Config, nil
}

// ListConfigs returns the configs that pass f (id prefix, name prefix,
// names, label).
func (a *API) ListConfigs(ctx context.Context, f filters.Args) ([]swarm.Config, error) {
	if err := f.Validate("id", "name", "names", "label"); err != nil {
		return nil, err
	}
	out := []swarm.Config{}
	a.store.View(func(tx store.ReadTx) {
		for _, c := range store.All[*store.Config](tx) {
			if matchListFilters(f, c.ID, c.Spec.Name, c.Spec.Labels) {
				out = append(out, c.Config)
			}
		}
	})
	return out, nil
}

// UpdateConfig replaces the labels of the config ref, which must still be
// at version. Nothing else may change: spec must carry the same name and
// either no data or the same data.
func (a *API) UpdateConfig(ctx context.Context, ref string, version uint64, spec swarm.ConfigSpec) error {
	var id string
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		cur, err := findConfig(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		// What may not change is refused before the version, as in
		// SwarmKit.
		if spec.Name != cur.Spec.Name || !sameTemplating(spec.Templating, cur.Spec.Templating) ||
			len(spec.Data) > 0 && !bytes.Equal(spec.Data, cur.Spec.Data) {
			return invalidArgument("only updates to Labels are allowed")
		}
		if cur.Version.Index != version {
			return errOutOfSequence
		}
		id = cur.ID
		cfg := store.Clone(cur)
		cfg.Spec.Labels = clone(spec.Labels)
		if err := limits.Config(cfg.Spec); err != nil {
			return err
		}
		return tx.Put(cfg)
	})
	if err == nil {
		a.log.Info("config updated", "config.id", id)
	}
	return err
}

// RemoveConfig deletes the config ref, refused while a service's spec
// references it.
func (a *API) RemoveConfig(ctx context.Context, ref string) error {
	var id string
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		cfg, err := findConfig(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		users := servicesUsing(tx.ReadTx, func(c *swarm.ContainerSpec) bool {
			return slices.ContainsFunc(c.Configs, func(r *swarm.ConfigReference) bool { return r != nil && r.ConfigID == cfg.ID })
		})
		if len(users) > 0 {
			return inUse("config", cfg.Spec.Name, users)
		}
		id = cfg.ID
		return tx.Delete(cfg)
	})
	if err == nil {
		a.log.Info("config removed", "config.id", id)
	}
	return err
}

// configsNamed finds configs by name, ignoring case as SwarmKit's name
// index does.
func configsNamed(tx store.ReadTx, name string) []*store.Config {
	var out []*store.Config
	for _, c := range store.All[*store.Config](tx) {
		if strings.EqualFold(c.Spec.Name, name) {
			out = append(out, c)
		}
	}
	return out
}

func findConfig(tx store.ReadTx, ref string) (*store.Config, error) {
	return lookup(tx, "config", ref, configsNamed)
}
