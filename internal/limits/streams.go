package limits

import (
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Connections and long-lived requests. Every open stream holds a goroutine
// and buffers (an event subscriber's queue, a log follower's reader, an
// attach or exec session's copies) for as long as the client keeps it, so
// their number per daemon is bounded: past MaxStreams of one kind the API
// answers 503 naming the limit, and the other endpoints keep answering.
// 1024 of each kind, at the few tens of KiB each holds, is a few tens of
// MiB at worst; more than any person or tool watching one daemon opens.
const (
	MaxStreams = 1024

	// MaxHeaderBytes bounds a request's header (Go's default, made
	// explicit): X-Registry-Auth, the largest header Docker clients send,
	// is a few KiB.
	MaxHeaderBytes = 1 << 20
	// ReadHeaderTimeout is how long a client has to send its header once
	// connected, so that one sending a byte at a time (slowloris) cannot
	// hold connections open.
	ReadHeaderTimeout = 30 * time.Second
	// IdleTimeout closes a kept-alive connection that sends no new
	// request.
	IdleTimeout = 2 * time.Minute
)

// Gate admits at most a fixed number of holders of one kind of stream at
// once. The zero Gate is not usable; make one with NewGate.
type Gate struct {
	what string // the streams, plural, for the message: "event subscriptions"
	max  int64
	n    atomic.Int64 // holders now
}

// NewGate returns a Gate that admits max holders of what at once.
func NewGate(what string, max int) *Gate {
	return &Gate{what: what, max: int64(max)}
}

// Enter admits one more holder, or refuses with an Unavailable error (503)
// naming the limit. The holder calls release once, when its stream ends.
func (g *Gate) Enter() (release func(), err error) {
	if g.n.Add(1) > g.max {
		g.n.Add(-1)
		return nil, errdefs.Unavailable("too many %s: this daemon serves at most %d at once; close one or try again later", g.what, g.max)
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			g.n.Add(-1)
		}
	}, nil
}

// Open is the number of holders now.
func (g *Gate) Open() int { return int(g.n.Load()) }
