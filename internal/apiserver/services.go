package apiserver

import (
	"net/http"

	"github.com/moby/moby/api/types/swarm"
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
	svcs, err := c.ListServices(r.Context(), f, boolValue(r, "status"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, svcs)
}

func (s *Server) serviceCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	var spec swarm.ServiceSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	id, err := c.CreateService(r.Context(), spec)
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
	svc, err := c.GetService(r.Context(), r.PathValue("id"), boolValue(r, "insertDefaults"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, svc)
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
	var spec swarm.ServiceSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	if err := c.UpdateService(r.Context(), r.PathValue("id"), v, spec, r.URL.Query().Get("rollback")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{Warnings: []string{}})
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
