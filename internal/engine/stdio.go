package engine

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/moby/term"

	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

// stdio is a plain container's stdio as the daemon holds it, across its
// runs: each run's output goes to the container's json-file log and to
// every client attached, and attached clients' input goes to the run's
// stdin. A client attaches for one run: the one going on, or else the
// next (docker run and docker start -a attach before they start).
type stdio struct {
	logPath   string
	rotation  jsonlog.Rotation
	tty       bool
	openStdin bool

	mu       sync.Mutex
	clients  map[*attachment]bool // guarded by mu; those of the current or next run
	run      *runIO               // guarded by mu; nil between runs
	runReady chan struct{}        // guarded by mu; closed when a run begins, then replaced
}

func newStdio(logPath string, rot jsonlog.Rotation, tty, openStdin bool) *stdio {
	return &stdio{logPath: logPath, rotation: rot, tty: tty, openStdin: openStdin, clients: map[*attachment]bool{}, runReady: make(chan struct{})}
}

// runIO is the stdio of one run.
type runIO struct {
	logFile   *jsonlog.File
	logPipes  [2]*io.PipeWriter // stdout and stderr into the log's line splitter
	logDone   sync.WaitGroup
	stdin     *io.PipeWriter // nil without stdin
	stdinOnce sync.Once
	clients   []*attachment // attached when the run began or since
	ended     chan struct{} // closed once the run's output is all in the log
}

// runEnded returns a channel closed when the current run's output has
// all been written to the log; closed already when nothing runs.
func (s *stdio) runEnded() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return closedChan
	}
	return s.run.ended
}

// attachment is a client attached to a container's streams. Its writers
// are nil for streams it did not ask for.
type attachment struct {
	stdout, stderr io.Writer
	done           chan struct{} // closed when the run it is attached to has ended
	doneOnce       sync.Once
	failed         bool // guarded by stdio.mu: a write to it failed; it gets no more
}

func (a *attachment) end() { a.doneOnce.Do(func() { close(a.done) }) }

// begin opens the log and makes the streams of a new run; the caller
// passes them to the executor, then calls end when the run is over (or
// did not start).
func (s *stdio) begin() (containerdexec.Stdio, *runIO, error) {
	f, err := jsonlog.OpenFile(s.logPath, s.rotation)
	if err != nil {
		return containerdexec.Stdio{}, nil, err
	}
	r := &runIO{logFile: f, ended: make(chan struct{})}
	w := jsonlog.NewWriter(f, time.Now)
	for i, stream := range []string{jsonlog.Stdout, jsonlog.Stderr} {
		pr, pw := io.Pipe()
		r.logPipes[i] = pw
		r.logDone.Go(func() {
			if err := w.Copy(stream, pr); err != nil {
				// A full disk loses output rather than block the container.
				io.Copy(io.Discard, pr)
			}
		})
	}
	out := containerdexec.Stdio{
		Stdout: &fanout{s: s, r: r, log: r.logPipes[0], stderr: false},
		Stderr: &fanout{s: s, r: r, log: r.logPipes[1], stderr: true},
	}
	if s.openStdin {
		pr, pw := io.Pipe()
		r.stdin, out.Stdin = pw, pr
	}
	s.mu.Lock()
	for a := range s.clients {
		r.clients = append(r.clients, a)
	}
	s.run = r
	close(s.runReady)
	s.runReady = make(chan struct{})
	s.mu.Unlock()
	return out, r, nil
}

// end closes a run's stdio once its output has been copied: the log is
// complete, and its clients' attachments end.
func (s *stdio) end(r *runIO) {
	s.mu.Lock()
	if s.run == r {
		s.run = nil
	}
	for _, a := range r.clients {
		delete(s.clients, a)
	}
	clients := r.clients
	s.mu.Unlock()
	r.closeStdin()
	for _, pw := range r.logPipes {
		pw.Close()
	}
	r.logDone.Wait()
	r.logFile.Close()
	close(r.ended)
	for _, a := range clients {
		a.end()
	}
}

func (r *runIO) closeStdin() {
	if r.stdin != nil {
		r.stdinOnce.Do(func() { r.stdin.Close() })
	}
}

// fanout is a run's stdout or stderr: every write goes to the log, then
// to each client attached to that stream. A client that cannot keep up
// slows the container, as with dockerd; one whose connection failed is
// dropped.
type fanout struct {
	s      *stdio
	r      *runIO
	log    io.Writer
	stderr bool
}

func (f *fanout) Write(p []byte) (int, error) {
	if _, err := f.log.Write(p); err != nil {
		return 0, err
	}
	f.s.mu.Lock()
	clients := f.r.clients
	f.s.mu.Unlock()
	for _, a := range clients {
		w := a.stdout
		if f.stderr {
			w = a.stderr
		}
		if w == nil {
			continue
		}
		f.s.mu.Lock()
		failed := a.failed
		f.s.mu.Unlock()
		if failed {
			continue
		}
		if _, err := w.Write(p); err != nil {
			// The client went away: its attachment ends.
			f.s.mu.Lock()
			a.failed = true
			f.s.mu.Unlock()
			a.end()
		}
	}
	return len(p), nil
}

// AttachOptions say which streams a client attaches to.
type AttachOptions struct {
	Stdin          io.Reader // nil: the client sends no input
	Stdout, Stderr io.Writer // nil: the client does not want that stream
	// DetachKeys end the attachment when read from Stdin of a container
	// with a TTY (docker's ctrl-p,ctrl-q by default).
	DetachKeys []byte
	// CloseStdin closes the process's stdin when the client's input ends
	// (Config.StdinOnce).
	CloseStdin bool
	// Attached is called once the client is attached, before anything is
	// written to it: a client told it is attached may start the container
	// at once, and must miss none of its output. Nil for none.
	Attached func() error
}

// errDetached is how an attachment ends when the client typed the detach
// keys.
var errDetached = errors.New("detached")

// attach attaches a client to the current or next run and returns once
// that run has ended, the client detached, or ctx ended. closeStdin
// closes the process's stdin (the run's FIFO and the shim's end).
func (s *stdio) attach(ctx context.Context, opts AttachOptions, closeStdin func(ctx context.Context) error) error {
	a := &attachment{stdout: opts.Stdout, stderr: opts.Stderr, done: make(chan struct{})}
	if s.tty {
		a.stderr = nil // a terminal has one output
	}
	s.mu.Lock()
	s.clients[a] = true
	if s.run != nil {
		s.run.clients = append(s.run.clients, a)
	}
	s.mu.Unlock()
	defer s.detach(a)
	if opts.Attached != nil {
		if err := opts.Attached(); err != nil {
			return err
		}
	}

	detached := make(chan struct{})
	if opts.Stdin != nil && s.openStdin {
		in := opts.Stdin
		if s.tty && len(opts.DetachKeys) > 0 {
			in = term.NewEscapeProxy(in, opts.DetachKeys)
		}
		go func() {
			err := s.copyStdin(ctx, a, in, opts.CloseStdin, closeStdin)
			if errors.Is(err, errDetached) {
				close(detached)
			}
		}()
	}
	select {
	case <-a.done:
		return nil
	case <-detached:
		return errDetached
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stdio) detach(a *attachment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, a)
	if s.run != nil {
		for i, c := range s.run.clients {
			if c == a {
				s.run.clients = append(s.run.clients[:i:i], s.run.clients[i+1:]...)
				break
			}
		}
	}
}

// copyStdin copies the client's input to the run's stdin, waiting for
// the run to begin when it has not. At the end of the input, the run's
// stdin is closed when closeOnEOF asks it.
func (s *stdio) copyStdin(ctx context.Context, a *attachment, in io.Reader, closeOnEOF bool, closeStdin func(ctx context.Context) error) error {
	var r *runIO
	for r == nil {
		s.mu.Lock()
		r = s.run
		ready := s.runReady
		s.mu.Unlock()
		if r != nil {
			break
		}
		select {
		case <-ready:
		case <-a.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	_, err := io.Copy(r.stdin, in)
	if errors.As(err, new(term.EscapeError)) {
		return errDetached
	}
	if !closeOnEOF {
		return err
	}
	r.closeStdin()
	if cerr := closeStdin(context.WithoutCancel(ctx)); cerr != nil {
		return cerr
	}
	return err
}
