package apiserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/shoal-project/shoal/internal/engine"
)

// containerAttachWS answers GET /containers/{id}/attach/ws: the
// container's streams over a websocket, as dockerd carries them — raw,
// stdout and stderr in the same binary messages without docker's stream
// headers, with or without a TTY, and the client's messages as stdin.
// The upgrade is answered once the client is attached, as the hijacked
// attach is, so a client that starts the container then misses none of
// its output. A browser page of another origin is refused (the
// library's check of Origin against Host): the daemon's socket is not
// for any web page to drive.
func (s *Server) containerAttachWS(w http.ResponseWriter, r *http.Request) error {
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

	// The connection outlives the handler's request context, as a
	// hijacked one does.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	ws := &wsStream{ready: make(chan struct{})}
	accepted := false
	ready := func(tty bool) (engine.AttachOptions, error) {
		opts := engine.AttachOptions{DetachKeys: detachKeys}
		if boolValue(r, "stdout") {
			opts.Stdout = ws
		}
		if boolValue(r, "stderr") {
			opts.Stderr = ws
		}
		if boolValue(r, "stdin") {
			opts.Stdin = ws
		}
		opts.Attached = func() error {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return err // Accept answered the client
			}
			accepted = true
			ws.set(websocket.NetConn(ctx, c, websocket.MessageBinary))
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
		return opts, nil
	}
	err = lc.Attach(ctx, id, ready)
	if !accepted {
		if errors.Is(err, errAttachDone) {
			return nil
		}
		return err
	}
	ws.close()
	if err != nil && !errors.Is(err, errAttachDone) && !errors.Is(err, context.Canceled) {
		s.log.Debug("websocket attach ended", "container.id", id, "err", err)
	}
	return nil
}

// wsStream is an attachment's websocket, there once the upgrade is
// answered: nothing is read or written before (engine.AttachOptions'
// Attached comes first).
type wsStream struct {
	ready chan struct{}
	once  sync.Once
	conn  net.Conn
}

func (s *wsStream) set(c net.Conn) {
	s.conn = c
	close(s.ready)
}

func (s *wsStream) Write(p []byte) (int, error) {
	<-s.ready
	return s.conn.Write(p)
}

func (s *wsStream) Read(p []byte) (int, error) {
	<-s.ready
	n, err := s.conn.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		// The client closed the websocket or went away: the end of its
		// input.
		return n, io.EOF
	}
	return n, err
}

func (s *wsStream) close() {
	s.once.Do(func() { s.conn.Close() })
}
