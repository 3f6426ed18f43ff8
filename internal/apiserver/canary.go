package apiserver

import (
	"net/http"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/controlapi"
)

// Canary and blue/green deployments are Shoal extensions of the Docker
// API: they answer controlapi.CanaryStatus, and Docker clients never call
// them.

// serviceCanaryUpdate serves POST /services/{id}/canary?version=N: the
// service update of POST /services/{id}/update, deployed as a canary or
// blue/green deployment (body: controlapi.CanaryUpdate).
func (s *Server) serviceCanaryUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	v, err := version(r, "service")
	if err != nil {
		return err
	}
	var req controlapi.CanaryUpdate
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.UpdateServiceCanary(r.Context(), r.PathValue("id"), v, req.Spec, req.Canary); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{Warnings: []string{}})
}

// serviceCanary serves GET /services/{id}/canary: the service's canary.
func (s *Server) serviceCanary(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	st, err := c.GetCanary(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// servicePromote serves POST /services/{id}/promote: promote the
// service's waiting canary.
func (s *Server) servicePromote(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	st, err := c.PromoteService(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}
