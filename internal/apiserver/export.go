package apiserver

import (
	"io"
	"net/http"
)

// containerExport answers docker export: the tar of the container's root
// filesystem.
func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	started := false
	err = lc.Export(r.Context(), r.PathValue("id"), func() io.Writer {
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		started = true
		return w
	})
	if err != nil && started {
		// The client sees a tar cut short.
		s.log.Warn("docker export cut short", "container", r.PathValue("id"), "err", err)
		return nil
	}
	return err
}

// containerChanges answers docker diff.
func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	changes, err := lc.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	// No change is null, as from dockerd.
	return writeJSON(w, http.StatusOK, changes)
}
