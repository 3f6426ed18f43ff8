package fakeapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"
)

// objects describes one kind of named swarm object (secrets, configs) so
// that one set of handlers serves both, with the daemon's rules: names are
// unique ignoring case, refs are an ID, a name or an ID prefix, and an object
// a service uses cannot be removed.
type objects[T, S any] struct {
	kind  string
	items *[]T
	id    func(T) string
	ann   func(T) swarm.Annotations
	// build makes a stored object from a create request's spec.
	build   func(id string, meta swarm.Meta, spec S) T
	specAnn func(S) swarm.Annotations
	// uses says whether a container spec refers to the object with this ID.
	uses func(c *swarm.ContainerSpec, id string) bool
	// show is the object as reads return it (secrets without their data).
	show func(T) T
}

func (s *Server) secretObjects() objects[swarm.Secret, swarm.SecretSpec] {
	return objects[swarm.Secret, swarm.SecretSpec]{
		kind:  "secret",
		items: &s.Secrets,
		id:    func(o swarm.Secret) string { return o.ID },
		ann:   func(o swarm.Secret) swarm.Annotations { return o.Spec.Annotations },
		build: func(id string, meta swarm.Meta, spec swarm.SecretSpec) swarm.Secret {
			return swarm.Secret{ID: id, Meta: meta, Spec: spec}
		},
		specAnn: func(spec swarm.SecretSpec) swarm.Annotations { return spec.Annotations },
		uses: func(c *swarm.ContainerSpec, id string) bool {
			return slices.ContainsFunc(c.Secrets, func(r *swarm.SecretReference) bool { return r.SecretID == id })
		},
		show: func(o swarm.Secret) swarm.Secret { o.Spec.Data = nil; return o },
	}
}

func (s *Server) configObjects() objects[swarm.Config, swarm.ConfigSpec] {
	return objects[swarm.Config, swarm.ConfigSpec]{
		kind:  "config",
		items: &s.Configs,
		id:    func(o swarm.Config) string { return o.ID },
		ann:   func(o swarm.Config) swarm.Annotations { return o.Spec.Annotations },
		build: func(id string, meta swarm.Meta, spec swarm.ConfigSpec) swarm.Config {
			return swarm.Config{ID: id, Meta: meta, Spec: spec}
		},
		specAnn: func(spec swarm.ConfigSpec) swarm.Annotations { return spec.Annotations },
		uses: func(c *swarm.ContainerSpec, id string) bool {
			return slices.ContainsFunc(c.Configs, func(r *swarm.ConfigReference) bool { return r.ConfigID == id })
		},
		show: func(o swarm.Config) swarm.Config { return o },
	}
}

func (o objects[T, S]) find(ref string) (int, *apiError) {
	for _, match := range []func(T) bool{
		func(v T) bool { return o.id(v) == ref },
		func(v T) bool { return strings.EqualFold(o.ann(v).Name, ref) },
		func(v T) bool { return ref != "" && strings.HasPrefix(o.id(v), ref) },
	} {
		if i := slices.IndexFunc(*o.items, match); i >= 0 {
			return i, nil
		}
	}
	return -1, notFound("%s %s not found", o.kind, ref)
}

// matches applies the daemon's list filters: id and name prefixes and exact
// names admit an object if any matches; every label must match.
func (o objects[T, S]) matches(f map[string][]string, v T) bool {
	ann := o.ann(v)
	for _, l := range f["label"] {
		k, val, hasValue := strings.Cut(l, "=")
		got, ok := ann.Labels[k]
		if !ok || hasValue && got != val {
			return false
		}
	}
	if len(f["id"])+len(f["name"])+len(f["names"]) == 0 {
		return true
	}
	return slices.ContainsFunc(f["id"], func(p string) bool { return strings.HasPrefix(o.id(v), p) }) ||
		slices.ContainsFunc(f["name"], func(p string) bool { return strings.HasPrefix(ann.Name, p) }) ||
		slices.Contains(f["names"], ann.Name)
}

func (o objects[T, S]) route(s *Server, q request, seg []string) *apiError {
	m := q.r.Method
	switch {
	case len(seg) == 1 && m == http.MethodGet:
		f := filters(q.r.URL.Query())
		out := []T{}
		for _, v := range *o.items {
			if o.matches(f, v) {
				out = append(out, o.show(v))
			}
		}
		return writeJSON(q.w, http.StatusOK, out)
	case len(seg) == 2 && seg[1] == "create" && m == http.MethodPost:
		var spec S
		if err := q.decode(&spec); err != nil {
			return err
		}
		name := o.specAnn(spec).Name
		if name == "" {
			return invalid("rpc error: code = InvalidArgument desc = name must be valid as a DNS name component")
		}
		if _, err := o.find(name); err == nil {
			return &apiError{http.StatusConflict, "rpc error: code = AlreadyExists desc = " + o.kind + " " + name + " already exists"}
		}
		v := o.build(s.NewID(o.kind[:3]), swarm.Meta{Version: swarm.Version{Index: 1}, CreatedAt: s.Now, UpdatedAt: s.Now}, spec)
		*o.items = append(*o.items, v)
		return writeJSON(q.w, http.StatusCreated, map[string]string{"ID": o.id(v)})
	case len(seg) == 2:
		i, err := o.find(seg[1])
		if err != nil {
			return err
		}
		v := (*o.items)[i]
		switch m {
		case http.MethodGet:
			return writeJSON(q.w, http.StatusOK, o.show(v))
		case http.MethodDelete:
			var users []string
			for _, svc := range s.Services {
				if c := svc.Spec.TaskTemplate.ContainerSpec; c != nil && o.uses(c, o.id(v)) {
					users = append(users, svc.Spec.Name)
				}
			}
			if len(users) > 0 {
				noun := "service"
				if len(users) > 1 {
					noun = "services"
				}
				return invalid("rpc error: code = InvalidArgument desc = %s '%s' is in use by the following %s: %s", o.kind, o.ann(v).Name, noun, strings.Join(users, ", "))
			}
			*o.items = slices.Delete(*o.items, i, i+1)
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return notFound("page not found")
}
