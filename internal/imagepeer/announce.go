package imagepeer

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/limits"
)

// HeldLister lists the images a node holds (images.Store).
type HeldLister interface {
	Held(ctx context.Context) ([]images.Held, error)
}

// Announcer tells the managers what this node holds: at once when that
// changed (checked every limits.PeerCheckPeriod), and every
// limits.PeerAnnouncePeriod anyway, so a manager that restarted learns it
// again.
type Announcer struct {
	Images   HeldLister
	Addr     string          // this node's cluster address
	Managers func() []string // where to announce
	Dial     func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	Logger   *slog.Logger
}

// Run announces until ctx ends.
func (a *Announcer) Run(ctx context.Context) {
	var last []images.Held
	var lastAt time.Time
	tick := time.NewTicker(limits.PeerCheckPeriod)
	defer tick.Stop()
	for {
		held, err := a.Images.Held(ctx)
		if err != nil {
			a.Logger.Warn("cannot list the images to announce", "err", err)
		} else {
			held = heldForAnnounce(held)
			if !slices.Equal(held, last) || time.Since(lastAt) >= limits.PeerAnnouncePeriod {
				if a.announce(ctx, held) {
					last, lastAt = held, time.Now()
					a.Logger.Debug("told the managers which images this node holds", "images", len(held))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// heldForAnnounce sorts held by name and keeps the first
// limits.PeerMaxHeld, so that equal holdings compare equal.
func heldForAnnounce(held []images.Held) []images.Held {
	slices.SortFunc(held, func(a, b images.Held) int { return strings.Compare(a.Name, b.Name) })
	if len(held) > limits.PeerMaxHeld {
		held = held[:limits.PeerMaxHeld]
	}
	return held
}

// announce tells every manager; it reports whether all heard it.
func (a *Announcer) announce(ctx context.Context, held []images.Held) bool {
	ok := true
	for _, addr := range a.Managers() {
		if err := a.announceTo(ctx, addr, held); err != nil {
			if ctx.Err() == nil {
				a.Logger.Debug("cannot tell a manager which images this node holds", "manager.addr", addr, "err", err)
			}
			ok = false
		}
	}
	return ok
}

func (a *Announcer) announceTo(ctx context.Context, addr string, held []images.Held) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cc, err := a.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	return cc.Invoke(ctx, MethodAnnounce, &AnnounceRequest{Addr: a.Addr, Images: held}, new(AnnounceResponse))
}
