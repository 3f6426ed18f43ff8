package apiserver

import (
	"net/http"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func (s *Server) serviceList(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	status, err := strictBool(r, "status")
	if err != nil {
		return err
	}
	return s.cachedRead(w, r, c, func() (any, error) { return c.ListServices(r.Context(), f, status) })
}

func (s *Server) serviceCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	spec, err := decodeServiceSpec(r)
	if err != nil {
		return err
	}
	ctx, err := withRegistryAuth(r)
	if err != nil {
		return err
	}
	s.pinImage(ctx, &spec, "")
	id, err := c.CreateService(ctx, spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: id, Warnings: []string{}})
}

func (s *Server) serviceInspect(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	insertDefaults, err := strictBool(r, "insertDefaults")
	if err != nil {
		return err
	}
	return s.cachedRead(w, r, c, func() (any, error) { return c.GetService(r.Context(), r.PathValue("id"), insertDefaults) })
}

func (s *Server) serviceUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	v, err := version(r, "service")
	if err != nil {
		return err
	}
	switch swarm.RegistryAuthSource(r.URL.Query().Get("registryAuthFrom")) {
	case "", swarm.RegistryAuthFromSpec, swarm.RegistryAuthFromPreviousSpec:
	default:
		return errdefs.Invalid("unsupported registryAuthFrom value")
	}
	spec, err := decodeServiceSpec(r)
	if err != nil {
		return err
	}
	ctx, err := withRegistryAuth(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("rollback") == "" {
		s.pinImage(ctx, &spec, currentImage(ctx, c, r.PathValue("id")))
	}
	if err := c.UpdateService(ctx, r.PathValue("id"), v, spec, r.URL.Query().Get("rollback")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{Warnings: []string{}})
}

// legacyServiceSpec is a service spec as clients before API 1.44 may send
// it, with the top-level Networks deprecated since 1.25.
type legacyServiceSpec struct {
	swarm.ServiceSpec
	Networks []swarm.NetworkAttachmentConfig `json:",omitempty"`
}

// decodeServiceSpec reads a service spec; as dockerd does, a client before
// API 1.44 that gives only the top-level Networks has them taken as
// TaskTemplate.Networks, so they are checked and attached like those.
func decodeServiceSpec(r *http.Request) (swarm.ServiceSpec, error) {
	var in legacyServiceSpec
	if err := decodeJSON(r, &in); err != nil {
		return swarm.ServiceSpec{}, err
	}
	spec := in.ServiceSpec
	if compareVersions(requestVersion(r), "1.44") < 0 && len(spec.TaskTemplate.Networks) == 0 && len(in.Networks) > 0 {
		spec.TaskTemplate.Networks = in.Networks
	}
	return spec, nil
}

func (s *Server) serviceRemove(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	if err := c.RemoveService(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
