package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// logQuery is what the logs endpoints' parameters ask for.
type logQuery struct {
	opts       containerdexec.LogOptions
	timestamps bool
	details    bool
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	q := logQuery{
		opts: containerdexec.LogOptions{
			Stdout: boolValue(r, "stdout"),
			Stderr: boolValue(r, "stderr"),
			Follow: boolValue(r, "follow"),
			Tail:   -1,
		},
		timestamps: boolValue(r, "timestamps"),
		details:    boolValue(r, "details"),
	}
	if !q.opts.Stdout && !q.opts.Stderr {
		return q, errdefs.Invalid("Bad parameters: you must choose at least one stream")
	}
	if tail := r.URL.Query().Get("tail"); tail != "" && tail != "all" {
		n, err := strconv.Atoi(tail)
		if err != nil || n < 0 {
			return q, errdefs.Invalid(`tail value must be a positive integer or "all", got %q`, tail)
		}
		q.opts.Tail = n
	}
	if since := r.URL.Query().Get("since"); since != "" {
		t, err := parseTimestamp(since)
		if err != nil {
			return q, err
		}
		q.opts.Since = t
	}
	if until := r.URL.Query().Get("until"); until != "" {
		t, err := parseTimestamp(until)
		if err != nil {
			return q, err
		}
		q.opts.Until = t
	}
	return q, nil
}

// parseTimestamp reads a time as the docker CLI sends it: Unix seconds
// with an optional fraction ("1700000000.123456789"), or RFC 3339.
func parseTimestamp(s string) (time.Time, error) {
	secs, frac, hasFrac := strings.Cut(s, ".")
	if sec, err := strconv.ParseInt(secs, 10, 64); err == nil {
		var nsec int64
		if hasFrac {
			if len(frac) > 9 {
				frac = frac[:9]
			}
			n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
			if err != nil {
				return time.Time{}, errdefs.Invalid("invalid timestamp %q: %v", s, err)
			}
			nsec = n
		}
		return time.Unix(sec, nsec), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errdefs.Invalid("invalid timestamp %q: want Unix seconds or RFC 3339", s)
	}
	return t, nil
}

// rfc3339NanoFixed is Docker's log timestamp: fixed width, so that
// timestamps line up.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// formatLine puts the timestamp and the details attributes before a log
// line, as dockerd does.
func formatLine(q logQuery, ts time.Time, attrs string, line []byte) []byte {
	var b []byte
	if q.timestamps {
		b = append(b, ts.UTC().Format(rfc3339NanoFixed)...)
		b = append(b, ' ')
	}
	if q.details {
		b = append(b, attrs...)
		b = append(b, ' ')
	}
	return append(b, line...)
}

// startStream sends the response header of a log stream.
func startStream(w http.ResponseWriter, tty bool) {
	if tty {
		w.Header().Set("Content-Type", types.MediaTypeRawStream)
	} else {
		w.Header().Set("Content-Type", types.MediaTypeMultiplexedStream)
	}
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
}

// endStream reports an error that came after the stream started, in the
// stream, as dockerd does; a client that went away needs no report.
func endStream(ctx context.Context, stderr io.Writer, err error) {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return
	}
	fmt.Fprintf(stderr, "Error grabbing logs: %v\n", err)
}

func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	svc, err := c.GetService(r.Context(), r.PathValue("id"), false)
	if err != nil {
		return err
	}
	tty := svc.Spec.TaskTemplate.ContainerSpec != nil && svc.Spec.TaskTemplate.ContainerSpec.TTY
	return s.swarmLogs(w, r, LogSelector{ServiceID: svc.ID}, svc.ID, tty)
}

func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	c, err := s.control()
	if err != nil {
		return err
	}
	t, err := c.GetTask(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	tty := t.Spec.ContainerSpec != nil && t.Spec.ContainerSpec.TTY
	return s.swarmLogs(w, r, LogSelector{TaskIDs: []string{t.ID}}, t.ServiceID, tty)
}

// swarmLogs streams task logs; with details=1 each line carries the
// node, service and task IDs, which `docker service logs` needs to name
// the task a line comes from.
func (s *Server) swarmLogs(w http.ResponseWriter, r *http.Request, sel LogSelector, serviceID string, tty bool) error {
	q, err := parseLogQuery(r)
	if err != nil {
		return err
	}
	if s.cfg.ServiceLogs == nil {
		return errNoBackend("service logs")
	}
	startStream(w, tty)
	stdout, stderr := outputStreams(w, tty)
	err = s.cfg.ServiceLogs.Logs(r.Context(), sel, q.opts, func(taskID, nodeID string, stream int, ts time.Time, line []byte) error {
		attrs := "com.docker.swarm.node.id=" + nodeID + ",com.docker.swarm.service.id=" + serviceID + ",com.docker.swarm.task.id=" + taskID
		out := stdout
		if stream == containerdexec.StreamStderr {
			out = stderr
		}
		_, err := out.Write(formatLine(q, ts, attrs, line))
		return err
	})
	endStream(r.Context(), stderr, err)
	return nil
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Containers == nil {
		return errNoBackend("containers")
	}
	q, err := parseLogQuery(r)
	if err != nil {
		return err
	}
	ctr, err := s.cfg.Containers.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	tty := ctr.Config != nil && ctr.Config.Tty
	q.details = false
	startStream(w, tty)
	stdout, stderr := outputStreams(w, tty)
	err = s.cfg.Containers.Logs(r.Context(), ctr.ID, q.opts, func(stream int, ts time.Time, line []byte) error {
		out := stdout
		if stream == containerdexec.StreamStderr {
			out = stderr
		}
		_, err := out.Write(formatLine(q, ts, "", line))
		return err
	})
	endStream(r.Context(), stderr, err)
	return nil
}
