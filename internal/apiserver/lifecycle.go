package apiserver

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/moby/moby/api/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/term"

	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// This file serves the lifecycle of plain containers: create, start,
// stop, kill, restart, pause, wait, attach, resize, top, rename, update
// and prune.

// defaultDetachKeys are docker's: ctrl-p, ctrl-q.
const defaultDetachKeys = "ctrl-p,ctrl-q"

func (s *Server) lifecycle() (Lifecycle, error) {
	if s.cfg.Lifecycle == nil {
		return nil, errNoBackend("containers")
	}
	return s.cfg.Lifecycle, nil
}

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	var req container.CreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	resp, err := lc.Create(r.Context(), r.URL.Query().Get("name"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

// noContentOr answers 204, or 304 when the request changed nothing, as
// dockerd does for a start of a running container and a stop of a
// stopped one.
func noContentOr(w http.ResponseWriter, changed bool) {
	if changed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusNotModified)
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	changed, err := lc.Start(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	noContentOr(w, changed)
	return nil
}

// stopTimeout reads the t parameter of stop and restart: seconds, -1 for
// no limit; nil when absent.
func stopTimeout(r *http.Request) (*int, error) {
	raw := r.URL.Query().Get("t")
	if raw == "" {
		return nil, nil
	}
	t, err := strconv.Atoi(raw)
	if err != nil {
		return nil, errdefs.Invalid("invalid value for t: %q: want a number of seconds", raw)
	}
	return &t, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	t, err := stopTimeout(r)
	if err != nil {
		return err
	}
	changed, err := lc.Stop(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal"), t)
	if err != nil {
		return err
	}
	noContentOr(w, changed)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	t, err := stopTimeout(r)
	if err != nil {
		return err
	}
	if err := lc.Restart(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal"), t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	if err := lc.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	if err := lc.Pause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	if err := lc.Unpause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerWait answers at once with the header, as dockerd does, and
// with the exit code once the condition is met.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	wait, err := lc.Wait(r.Context(), r.PathValue("id"), container.WaitCondition(r.URL.Query().Get("condition")))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	code, err := wait(r.Context())
	resp := container.WaitResponse{StatusCode: int64(code)}
	if err != nil {
		if r.Context().Err() != nil {
			return nil
		}
		resp.Error = &container.WaitExitError{Message: err.Error()}
	}
	json.NewEncoder(w).Encode(resp)
	return nil
}

// detachKeysOf reads an attach's detachKeys parameter, docker's default
// when it is absent.
func detachKeysOf(r *http.Request) ([]byte, error) {
	keys := r.URL.Query().Get("detachKeys")
	if keys == "" {
		keys = defaultDetachKeys
	}
	detachKeys, err := term.ToBytes(keys)
	if err != nil {
		return nil, errdefs.Invalid("invalid detach keys (%s): %v", keys, err)
	}
	return detachKeys, nil
}

// containerAttach takes over the connection and carries the container's
// streams: its output to the client (multiplexed unless it has a TTY),
// the client's input to it, until its run ends or the client goes.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	detachKeys, err := detachKeysOf(r)
	if err != nil {
		return err
	}
	stream, logs := boolValue(r, "stream"), boolValue(r, "logs")
	id := r.PathValue("id")

	// A hijacked request's context ends when the client closes its half
	// of the connection, which the docker CLI does once it has sent its
	// input: the attachment must outlive that.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	var conn net.Conn
	ready := func(tty bool) (engine.AttachOptions, error) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return engine.AttachOptions{}, errdefs.Invalid("take over the connection: %v", err)
		}
		conn = c
		opts := engine.AttachOptions{DetachKeys: detachKeys}
		stdout, stderr := outputStreams(conn, tty)
		if boolValue(r, "stdout") {
			opts.Stdout = stdout
		}
		if boolValue(r, "stderr") {
			opts.Stderr = stderr
		}
		// The answer goes once the client is attached: a client that has
		// it starts the container, whose output it must not miss.
		opts.Attached = func() error {
			if err := answerHijacked(w, r, brw, tty); err != nil {
				return err
			}
			if logs {
				if err := s.replayLogs(ctx, id, opts.Stdout, opts.Stderr); err != nil {
					return err
				}
			}
			if !stream {
				return errAttachDone
			}
			return nil
		}
		// The end of the client's input is not its going away: the docker
		// CLI closes its half of the connection when it sends none. A
		// client that goes away is noticed when writing to it fails.
		if boolValue(r, "stdin") {
			opts.Stdin = brw.Reader
		}
		return opts, nil
	}
	err = lc.Attach(ctx, id, ready)
	if conn == nil {
		return err
	}
	defer conn.Close()
	if err != nil && !errors.Is(err, errAttachDone) && !errors.Is(err, context.Canceled) {
		s.log.Debug("attach ended", "container.id", id, "err", err)
	}
	return nil
}

// errAttachDone ends an attach that asked for no stream once the logs are
// replayed.
var errAttachDone = errors.New("attach: nothing to stream")

// replayLogs writes a container's log so far to the attached streams, for
// an attach with logs=1.
func (s *Server) replayLogs(ctx context.Context, id string, stdout, stderr io.Writer) error {
	if s.cfg.Containers == nil || (stdout == nil && stderr == nil) {
		return nil
	}
	opts := containerdexec.LogOptions{Stdout: stdout != nil, Stderr: stderr != nil, Tail: -1}
	return s.cfg.Containers.Logs(ctx, id, opts, func(stream int, _ time.Time, line []byte) error {
		out := stdout
		if stream == containerdexec.StreamStderr {
			out = stderr
		}
		_, err := out.Write(line)
		return err
	})
}

// hijack takes over a request's connection and answers it as dockerd
// answers attach and exec start: 101 UPGRADED when the client asked to
// upgrade (the docker CLI does), 200 otherwise, with the stream's media
// type.
func hijack(w http.ResponseWriter, r *http.Request, tty bool) (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, errdefs.Invalid("take over the connection: %v", err)
	}
	if err := answerHijacked(w, r, brw, tty); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, brw, nil
}

// answerHijacked writes the answer to a hijacked request.
func answerHijacked(w http.ResponseWriter, r *http.Request, brw *bufio.ReadWriter, tty bool) error {
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
	return errors.Join(writeString(brw, status), hdr.Write(brw), writeString(brw, "\r\n"), brw.Flush())
}

func writeString(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// terminalSize reads the h and w parameters of a resize.
func terminalSize(r *http.Request) (height, width uint, err error) {
	q := r.URL.Query()
	h, herr := strconv.ParseUint(q.Get("h"), 10, 16)
	wd, werr := strconv.ParseUint(q.Get("w"), 10, 16)
	if herr != nil || werr != nil {
		return 0, 0, errdefs.Invalid("invalid terminal size h=%q w=%q: want two numbers from 0 to 65535", q.Get("h"), q.Get("w"))
	}
	return uint(h), uint(wd), nil
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) error {
	return s.resize(w, r, Lifecycle.Resize)
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) error {
	return s.resize(w, r, Lifecycle.ExecResize)
}

// resize sets the terminal size of the container or exec in the path.
func (s *Server) resize(w http.ResponseWriter, r *http.Request, set func(Lifecycle, context.Context, string, uint, uint) error) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	h, wd, err := terminalSize(r)
	if err != nil {
		return err
	}
	if err := set(lc, r.Context(), r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	resp, err := lc.Top(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		return errdefs.Invalid("name: a new name is required")
	}
	if err := lc.Rename(r.Context(), r.PathValue("id"), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	var cfg container.UpdateConfig
	if err := decodeJSON(r, &cfg); err != nil {
		return err
	}
	resp, err := lc.Update(r.Context(), r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	report, err := lc.Prune(r.Context(), f.Map())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, report)
}

// pathStatHeader carries a path's stat in docker cp's answers.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(w http.ResponseWriter, st container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
	return nil
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.Invalid("path: a path in the container is required")
	}
	return p, nil
}

// containerArchive answers docker cp from a container: HEAD the path's
// stat, GET also its tar.
func (s *Server) containerArchive(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		st, err := lc.StatPath(r.Context(), r.PathValue("id"), p)
		if err != nil {
			return err
		}
		if err := setPathStat(w, st); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	started := false
	err = lc.CopyFrom(r.Context(), r.PathValue("id"), p, func(st container.PathStat) (io.Writer, error) {
		if err := setPathStat(w, st); err != nil {
			return nil, err
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		started = true
		return w, nil
	})
	if err != nil && started {
		s.log.Warn("docker cp from a container cut short", "container", r.PathValue("id"), "path", p, "err", err)
		return nil
	}
	return err
}

// containerExtract answers docker cp to a container: the body is a tar
// extracted into the directory path.
func (s *Server) containerExtract(w http.ResponseWriter, r *http.Request) error {
	lc, err := s.lifecycle()
	if err != nil {
		return err
	}
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	noOverwrite, err := strictBool(r, "noOverwriteDirNonDir")
	if err != nil {
		return err
	}
	if err := lc.CopyTo(r.Context(), r.PathValue("id"), p, r.Body, noOverwrite); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
