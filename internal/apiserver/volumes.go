package apiserver

import (
	"context"
	"net/http"

	volumetypes "github.com/moby/moby/api/types/volume"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/volume"
)

// Volumes: this node's own, served here and never through raft, as
// dockerd serves its local volumes.

// Volumes are this node's volumes (volume.Store).
type Volumes interface {
	Create(ctx context.Context, name string, opts volume.CreateOptions) (volumetypes.Volume, error)
	Get(ctx context.Context, name string) (volumetypes.Volume, error)
	List(ctx context.Context, f filters.Args) ([]volumetypes.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
	Prune(ctx context.Context, f filters.Args) (volumetypes.PruneReport, error)
}

func (s *Server) volumes() (Volumes, error) {
	if s.cfg.Volumes == nil {
		return nil, errNoBackend("volumes")
	}
	return s.cfg.Volumes, nil
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.volumes()
	if err != nil {
		return err
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	list, err := vs.List(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, volumetypes.ListResponse{Volumes: list})
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.volumes()
	if err != nil {
		return err
	}
	var req volumetypes.CreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ClusterVolumeSpec != nil {
		return errdefs.Invalid("ClusterVolumeSpec: cluster volumes (CSI plugins) are not supported; leave it out for a local volume")
	}
	v, err := vs.Create(r.Context(), req.Name, volume.CreateOptions{Driver: req.Driver, Options: req.DriverOpts, Labels: req.Labels})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.volumes()
	if err != nil {
		return err
	}
	v, err := vs.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.volumes()
	if err != nil {
		return err
	}
	if err := vs.Remove(r.Context(), r.PathValue("name"), boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.volumes()
	if err != nil {
		return err
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	rep, err := vs.Prune(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
