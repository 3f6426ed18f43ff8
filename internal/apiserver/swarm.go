package apiserver

import (
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
)

func (s *Server) cluster() (Cluster, error) {
	if s.cfg.Cluster == nil {
		return nil, errdefs.Unavailable("swarm mode is not available on this daemon")
	}
	return s.cfg.Cluster, nil
}

// control returns the control API, or why this node cannot serve it.
func (s *Server) control() (*controlapi.API, error) {
	c, err := s.cluster()
	if err != nil {
		return nil, err
	}
	return c.Control()
}

func (s *Server) swarmInspect(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	sw, err := c.InspectSwarm(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sw)
}

func (s *Server) swarmInit(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	var req swarm.InitRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	id, err := c.Init(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, id)
}

func (s *Server) swarmJoin(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	var req swarm.JoinRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Join(r.Context(), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) swarmLeave(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	if err := c.Leave(r.Context(), boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) swarmUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	v, err := version(r, "swarm")
	if err != nil {
		return err
	}
	var spec swarm.Spec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	var rot controlapi.Rotation
	for _, p := range []struct {
		key string
		v   *bool
	}{{"rotateWorkerToken", &rot.WorkerToken}, {"rotateManagerToken", &rot.ManagerToken}, {"rotateManagerUnlockKey", &rot.ManagerUnlockKey}} {
		if raw := r.URL.Query().Get(p.key); raw != "" {
			v, err := strconv.ParseBool(raw)
			if err != nil {
				return errdefs.Invalid("invalid value for %s: %s", p.key, raw)
			}
			*p.v = v
		}
	}
	if err := c.UpdateSwarm(r.Context(), v, spec, rot); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) swarmUnlockKey(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	key, err := c.UnlockKey(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.UnlockKeyResponse{UnlockKey: key})
}

func (s *Server) swarmUnlock(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	var req swarm.UnlockRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Unlock(r.Context(), req.UnlockKey); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) nodeUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	v, err := version(r, "node")
	if err != nil {
		return err
	}
	var spec swarm.NodeSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	if err := c.UpdateNode(r.Context(), r.PathValue("id"), v, spec); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) nodeRemove(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	if err := c.RemoveNode(r.Context(), r.PathValue("id"), boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
