// Package clock is the node's wall clock for the times it writes into
// the swarm's state and compares with times other nodes wrote: task and
// object timestamps, heartbeat deadlines, restart windows, certificate
// validity. It is time.Now, shifted by an offset that only binaries built
// for tests set (the daemon's shoaltesthooks build), so that the fault
// suite can jump one node's clock without touching the host's.
//
// A shift moves the monotonic reading too, so durations measured across
// a jump inside the process see it, which Go's monotonic clock spares
// real code: a jump here is harsher than a real one.
package clock

import (
	"sync/atomic"
	"time"
)

var offset atomic.Int64 // nanoseconds

// Now is time.Now shifted by the offset.
func Now() time.Time {
	if d := time.Duration(offset.Load()); d != 0 {
		return time.Now().Add(d)
	}
	return time.Now()
}

// SetOffset shifts Now by d from now on (0 puts it back).
func SetOffset(d time.Duration) { offset.Store(int64(d)) }
