package controlapi

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/store"
)

// Secrets as SwarmKit's control API keeps them, behind dockerd's lookup
// rules. Spec.Data never leaves the API: reads blank it.

// CreateSecret validates spec and stores a new secret, and returns its ID.
func (a *API) CreateSecret(ctx context.Context, spec swarm.SecretSpec) (string, error) {
	if err := validateSecretSpec(spec); err != nil {
		return "", err
	}
	sec := &store.Secret{Secret: swarm.Secret{ID: identity.NewID(), Spec: clone(spec)}}
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		if len(secretsNamed(tx.ReadTx, spec.Name)) > 0 {
			return alreadyExists("secret", spec.Name)
		}
		return tx.Put(sec)
	})
	if err != nil {
		return "", err
	}
	a.log.Info("secret created", "secret.id", sec.ID, "secret.name", spec.Name)
	return sec.ID, nil
}

// GetSecret returns the secret ref names (ID, name or unique ID prefix),
// without its data.
func (a *API) GetSecret(ctx context.Context, ref string) (swarm.Secret, error) {
	var (
		sec *store.Secret
		err error
	)
	a.store.View(func(tx store.ReadTx) { sec, err = findSecret(tx, ref) })
	if err != nil {
		return swarm.Secret{}, err
	}
	return redacted(sec), nil
}

// ListSecrets returns the secrets that pass f (id prefix, name prefix,
// names, label), without their data.
func (a *API) ListSecrets(ctx context.Context, f filters.Args) ([]swarm.Secret, error) {
	if err := f.Validate("id", "name", "names", "label"); err != nil {
		return nil, err
	}
	out := []swarm.Secret{}
	a.store.View(func(tx store.ReadTx) {
		for _, s := range store.All[*store.Secret](tx) {
			if matchListFilters(f, s.ID, s.Spec.Name, s.Spec.Labels) {
				out = append(out, redacted(s))
			}
		}
	})
	return out, nil
}

// UpdateSecret replaces the labels of the secret ref, which must still be
// at version. Nothing else may change: spec must carry the same name and
// either no data (as inspect returns it) or the same data.
func (a *API) UpdateSecret(ctx context.Context, ref string, version uint64, spec swarm.SecretSpec) error {
	var id string
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		cur, err := findSecret(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		// What may not change is refused before the version, as in
		// SwarmKit.
		if spec.Name != cur.Spec.Name || spec.Driver != nil || !sameTemplating(spec.Templating, cur.Spec.Templating) ||
			len(spec.Data) > 0 && subtle.ConstantTimeCompare(spec.Data, cur.Spec.Data) == 0 {
			return invalidArgument("only updates to Labels are allowed")
		}
		if cur.Version.Index != version {
			return errOutOfSequence
		}
		id = cur.ID
		sec := store.Clone(cur)
		sec.Spec.Labels = clone(spec.Labels)
		if err := limits.Secret(sec.Spec); err != nil {
			return err
		}
		return tx.Put(sec)
	})
	if err == nil {
		a.log.Info("secret updated", "secret.id", id)
	}
	return err
}

// RemoveSecret deletes the secret ref, refused while a service's spec
// references it.
func (a *API) RemoveSecret(ctx context.Context, ref string) error {
	var id string
	err := a.store.Update(ctx, func(tx *store.WriteTx) error {
		sec, err := findSecret(tx.ReadTx, ref)
		if err != nil {
			return err
		}
		users := servicesUsing(tx.ReadTx, func(c *swarm.ContainerSpec) bool {
			return slices.ContainsFunc(c.Secrets, func(r *swarm.SecretReference) bool { return r != nil && r.SecretID == sec.ID })
		})
		if len(users) > 0 {
			return inUse("secret", sec.Spec.Name, users)
		}
		id = sec.ID
		return tx.Delete(sec)
	})
	if err == nil {
		a.log.Info("secret removed", "secret.id", id)
	}
	return err
}

// redacted is the secret as the API shows it: without its data.
func redacted(s *store.Secret) swarm.Secret {
	out := s.Secret
	out.Spec.Data = nil
	return out
}

// secretsNamed finds secrets by name, ignoring case as SwarmKit's name
// index does (so "DB" and "db" cannot both exist).
func secretsNamed(tx store.ReadTx, name string) []*store.Secret {
	var out []*store.Secret
	for _, s := range store.All[*store.Secret](tx) {
		if strings.EqualFold(s.Spec.Name, name) {
			out = append(out, s)
		}
	}
	return out
}

func findSecret(tx store.ReadTx, ref string) (*store.Secret, error) {
	return lookup(tx, "secret", ref, secretsNamed)
}

// The helpers below serve configs too.

func alreadyExists(kind, name string) error {
	return rpcError(errdefs.KindConflict, "AlreadyExists", "%s %s already exists", kind, name)
}

// matchListFilters is SwarmKit's filter rule for secrets and configs: the
// id (prefix), name (prefix) and names (exact) values are alternatives,
// any one of which admits an object; labels must all match. Names match
// ignoring case, as SwarmKit's name index does.
func matchListFilters(f filters.Args, id, name string, labels map[string]string) bool {
	if !f.Labels("label", labels) {
		return false
	}
	ids, prefixes, names := f.Get("id"), f.Get("name"), f.Get("names")
	if len(ids)+len(prefixes)+len(names) == 0 {
		return true
	}
	lower := strings.ToLower(name)
	return slices.ContainsFunc(ids, func(p string) bool { return strings.HasPrefix(id, p) }) ||
		slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(lower, strings.ToLower(p)) }) ||
		slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(name, n) })
}

// servicesUsing returns the sorted names of the services whose current
// spec uses an object, as uses tells from a container spec.
func servicesUsing(tx store.ReadTx, uses func(*swarm.ContainerSpec) bool) []string {
	var names []string
	for _, s := range store.All[*store.Service](tx) {
		if c := s.Spec.TaskTemplate.ContainerSpec; c != nil && uses(c) {
			names = append(names, s.Spec.Name)
		}
	}
	slices.Sort(names)
	return names
}

func inUse(kind, name string, services []string) error {
	noun := "services"
	if len(services) == 1 {
		noun = "service"
	}
	return invalidArgument("%s '%s' is in use by the following %s: %s", kind, name, noun, strings.Join(services, ", "))
}
