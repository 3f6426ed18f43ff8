package apiserver

import (
	"net/http"

	"github.com/moby/moby/api/types/swarm"
)

func (s *Server) configCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	var spec swarm.ConfigSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	id, err := c.CreateConfig(r.Context(), spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ConfigCreateResponse{ID: id})
}

func (s *Server) configUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	v, err := version(r, "config")
	if err != nil {
		return err
	}
	var spec swarm.ConfigSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	if err := c.UpdateConfig(r.Context(), r.PathValue("id"), v, spec); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) configRemove(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	if err := c.RemoveConfig(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
