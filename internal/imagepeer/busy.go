package imagepeer

import (
	"errors"
	"time"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
)

// A burst of nodes that need a new image at once first finds one holder;
// it serves as many blobs as it has slots and refuses the rest as busy
// (ErrBusy). A node refused asks the managers for the blob's holders
// again, at once and then after a backoff: the first nodes to finish hold
// the image too and have announced it, so the copies spread instead of
// queueing on the first holder.

// askAgain reports whether a round of tries for a blob that failed with
// errs should be followed by another (the holders the managers name then,
// after busyBackoff): when at least one holder was busy and every other
// one no longer held the image. Any other failure (a bad peer, a holder
// gone) fails the fetch from this holder as before: the node tries the
// next one, then its registry.
func askAgain(errs []error) bool {
	busy := false
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrBusy):
			busy = true
		case errdefs.Is(err, errdefs.KindNotFound):
		default:
			return false
		}
	}
	return busy
}

// busyBackoff is how long to wait after round round (0 is the first): limits.PeerBusyBackoff doubled each round up to
// limits.PeerCheckPeriod (by then new holders have announced), scaled by
// 0.5+jitter, jitter in [0, 1), so the nodes of a burst come back apart.
func busyBackoff(round int, jitter float64) time.Duration {
	d := limits.PeerBusyBackoff
	for range round {
		if d >= limits.PeerCheckPeriod {
			break
		}
		d *= 2
	}
	d = min(d, limits.PeerCheckPeriod)
	return time.Duration(float64(d) * (0.5 + jitter))
}
