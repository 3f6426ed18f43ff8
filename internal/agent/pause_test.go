package agent

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
)

// freezer is a TCP proxy in front of a manager that can stop passing
// bytes either way while it keeps every connection open: what the
// manager's peers see of a manager stopped with SIGSTOP, whose sockets
// the kernel keeps while nothing reads or writes them.
type freezer struct {
	addr string

	mu     sync.Mutex
	frozen bool
	thawed *sync.Cond // broadcast when frozen turns false
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{addr: l.Addr().String()}
	f.thawed = sync.NewCond(&f.mu)
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		f.set(false)
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			open = append(open, in, out)
			mu.Unlock()
			conns.Add(2)
			go func() { defer conns.Done(); f.pipe(out, in) }()
			go func() { defer conns.Done(); f.pipe(in, out) }()
		}
	}()
	return f
}

// pipe copies from src to dst, holding each chunk while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		for f.frozen {
			f.thawed.Wait()
		}
		f.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				src.Close()
			}
			return
		}
	}
}

func (f *freezer) set(frozen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = frozen
	if !frozen {
		f.thawed.Broadcast()
	}
}

// A manager stopped with SIGSTOP keeps its agents' connections open and
// answers nothing: an agent on it must not wait there for assignments
// that never come while the other managers have them. Its heartbeat, which
// has a deadline of one period, is what ends the session (RELIABILITY.md,
// finding 5): the agent then goes to another manager and runs the task
// assigned meanwhile.
func TestSessionToAPausedManager(t *testing.T) {
	c := newTestCluster(t)
	a := newFreezer(t, c.startManager(t, dispatcher.Config{}, true).addr)
	b := newFreezer(t, c.startManager(t, dispatcher.Config{}, true).addr)
	paused := a
	if pickManager([]string{a.addr, b.addr}, "") != a.addr {
		paused = b // the agent tries them in sorted order
	}
	n := c.addNode(t, nil)
	c.startAgent(t, n, a.addr, b.addr)
	c.assign(t, n.id, "before")
	c.eventually(t, "the task to run", c.inState(swarm.TaskStateRunning, "before"))

	paused.set(true)
	c.assign(t, n.id, "during")
	c.eventually(t, "the task assigned while the agent's manager is paused to run through the other", c.inState(swarm.TaskStateRunning, "during"))
}
