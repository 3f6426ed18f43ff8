package apiserver

import (
	"net/http"

	"github.com/moby/moby/api/types/swarm"
)

// Secrets and configs: list and inspect go through listOf/inspectOf; the
// writes decode a spec and answer as dockerd does (201 with the ID, 200
// with no body, 204).

func (s *Server) secretCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	var spec swarm.SecretSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	id, err := c.CreateSecret(r.Context(), spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: id})
}

func (s *Server) secretUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	v, err := version(r, "secret")
	if err != nil {
		return err
	}
	var spec swarm.SecretSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	if err := c.UpdateSecret(r.Context(), r.PathValue("id"), v, spec); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) secretRemove(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	if err := c.RemoveSecret(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
