package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func (s *Server) containers() (Containers, error) {
	if s.cfg.Containers == nil {
		return nil, errNoBackend("containers")
	}
	return s.cfg.Containers, nil
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	limit := 0
	if raw := r.URL.Query().Get("limit"); raw != "" {
		if limit, err = strconv.Atoi(raw); err != nil {
			return errdefs.Invalid("invalid limit %q: %v", raw, err)
		}
	}
	// A limit shows the last containers created, running or not.
	list, err := c.List(r.Context(), boolValue(r, "all") || limit > 0, f.Map())
	if err != nil {
		return err
	}
	if limit > 0 && limit < len(list) {
		list = list[:limit]
	}
	if list == nil {
		list = []container.Summary{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	resp, err := c.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if compareVersions(requestVersion(r), legacyNetworkFieldsUntil) < 0 && resp.NetworkSettings != nil {
		return writeJSON(w, http.StatusOK, withLegacyNetworkFields(resp))
	}
	return writeJSON(w, http.StatusOK, resp)
}

// legacyNetworkFieldsUntil is the API version that dropped the default
// bridge's fields from the top of NetworkSettings; older clients
// (docker-py's container.attrs['NetworkSettings']['IPAddress']) read
// them.
const legacyNetworkFieldsUntil = "1.52"

// legacyInspect is an inspect answer with NetworkSettings as API versions
// before legacyNetworkFieldsUntil show it.
type legacyInspect struct {
	container.InspectResponse
	NetworkSettings legacyNetworkSettings
}

type legacyNetworkSettings struct {
	*container.NetworkSettings
	EndpointID  string
	Gateway     string
	IPAddress   string
	IPPrefixLen int
	MacAddress  string
}

func withLegacyNetworkFields(resp container.InspectResponse) legacyInspect {
	out := legacyInspect{InspectResponse: resp, NetworkSettings: legacyNetworkSettings{NetworkSettings: resp.NetworkSettings}}
	if ep := resp.NetworkSettings.Networks["bridge"]; ep != nil {
		ns := &out.NetworkSettings
		ns.EndpointID, ns.IPPrefixLen, ns.MacAddress = ep.EndpointID, ep.IPPrefixLen, ep.MacAddress.String()
		if ep.IPAddress.IsValid() {
			ns.IPAddress = ep.IPAddress.String()
		}
		if ep.Gateway.IsValid() {
			ns.Gateway = ep.Gateway.String()
		}
	}
	return out
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	if boolValue(r, "link") {
		return errdefs.Invalid("link: legacy links are not supported by this node")
	}
	if err := c.Remove(r.Context(), r.PathValue("id"), boolValue(r, "force"), boolValue(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	var req container.ExecCreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	id, err := c.ExecCreate(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	resp, err := c.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// execStart runs an exec instance. Unless detached, it takes over the
// connection (101 UPGRADED when the client asked to upgrade, as the
// docker CLI does) and carries stdin from the client and the process's
// output to it, multiplexed unless it has a TTY, until the process exits.
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	var req container.ExecStartRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
	}
	id := r.PathValue("id")
	ex, err := c.ExecInspect(r.Context(), id)
	if err != nil {
		return err
	}
	if ex.Running {
		return errdefs.Conflict("Error: Exec command %s is already running", id)
	}
	if req.Detach {
		go func() {
			if err := c.ExecStart(context.WithoutCancel(r.Context()), id, nil, io.Discard, io.Discard); err != nil {
				s.log.Warn("detached exec failed", "exec.id", id, "err", err)
			}
		}()
		w.WriteHeader(http.StatusOK)
		return nil
	}
	tty := req.Tty || (ex.ProcessConfig != nil && ex.ProcessConfig.Tty)

	conn, brw, err := hijack(w, r, tty)
	if err != nil {
		return fmt.Errorf("exec %s: %w", id, err)
	}
	defer conn.Close()

	var stdin io.Reader
	if ex.OpenStdin {
		stdin = brw.Reader
	}
	stdout, stderr := outputStreams(conn, tty)
	// Not the request's context: it ends when the client closes its half
	// of the connection, once it has sent its input.
	if err := c.ExecStart(context.WithoutCancel(r.Context()), id, stdin, stdout, stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stdout, "%s\r\n", err)
	}
	return nil
}
