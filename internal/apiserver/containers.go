package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types"
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
	list, err := c.List(r.Context(), boolValue(r, "all"), f.Map())
	if err != nil {
		return err
	}
	if raw := r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return errdefs.Invalid("invalid limit %q: %v", raw, err)
		}
		if n > 0 && n < len(list) {
			list = list[:n]
		}
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
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	if err := c.Remove(r.Context(), r.PathValue("id"), boolValue(r, "force")); err != nil {
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

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("exec %s: take over the connection: %w", id, err)
	}
	defer conn.Close()
	contentType := types.MediaTypeMultiplexedStream
	if tty {
		contentType = types.MediaTypeRawStream
	}
	status := "HTTP/1.1 200 OK\r\n"
	if r.Header.Get("Upgrade") != "" {
		status = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
	}
	hdr := w.Header().Clone()
	hdr.Set("Content-Type", contentType)
	if _, err := io.WriteString(brw, status); err != nil {
		return nil
	}
	if err := hdr.Write(brw); err != nil {
		return nil
	}
	if _, err := io.WriteString(brw, "\r\n"); err != nil {
		return nil
	}
	if err := brw.Flush(); err != nil {
		return nil
	}

	var stdin io.Reader
	if ex.OpenStdin {
		stdin = brw.Reader
	}
	stdout, stderr := outputStreams(conn, tty)
	if err := c.ExecStart(r.Context(), id, stdin, stdout, stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stdout, "%s\r\n", err)
	}
	return nil
}
