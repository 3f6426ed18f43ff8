package apiserver

import "net/http"

// serviceRebalance serves POST /services/{id}/rebalance, a Shoal extension
// of the Docker API: it starts moving the service's tasks to where the
// scheduler would place them now (controlapi.RebalanceService) and answers
// with a controlapi.RebalanceReport.
func (s *Server) serviceRebalance(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	rep, err := c.RebalanceService(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
