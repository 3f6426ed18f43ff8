// Package events is the daemon's event stream, GET /events: Docker's event
// messages (github.com/moby/moby/api/types/events), published by the parts
// that do things (containers, images, volumes, networks) and derived from
// the replicated store for swarm objects (WatchStore), kept in a bounded
// history on disk so that since/until replay survives a restart, and
// handed to subscribers through bounded buffers, so that a slow reader is
// dropped rather than ever hold up the daemon.
package events

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// Defaults of Config.
const (
	DefaultMaxEvents = 10000
	DefaultMaxBytes  = 8 << 20
	DefaultBuffer    = 1024
)

// Config configures a Bus.
type Config struct {
	// Path is the history file; empty keeps the history in memory only.
	Path string
	// MaxEvents and MaxBytes bound the history (its encoded size); the
	// oldest events go first. Zero means the defaults.
	MaxEvents int
	MaxBytes  int
	// Buffer is how many events a subscriber may fall behind by before it
	// is dropped. Zero means DefaultBuffer.
	Buffer int
	Logger *slog.Logger
	// Now is the clock of local events; time.Now when nil.
	Now func() time.Time
	// Published, when set, is called once per event published (a metric).
	Published func()
}

// Bus is the daemon's event stream.
type Bus struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	hist *history                   // guarded by mu
	subs map[*Subscription]struct{} // guarded by mu
}

// New opens the history at cfg.Path (creating it when missing) and returns
// a Bus. A history that cannot be read is logged and started afresh: the
// daemon must come up without it.
func New(cfg Config) (*Bus, error) {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h, err := openHistory(cfg.Path, cfg.MaxEvents, cfg.MaxBytes, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Bus{cfg: cfg, log: cfg.Logger, hist: h, subs: map[*Subscription]struct{}{}}, nil
}

// Close closes the history file and ends every subscription.
func (b *Bus) Close() error {
	b.Disconnect()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hist.close()
}

// Disconnect ends every subscription, so that the streams reading them
// end (a stopping daemon's API server then has no stream to wait for);
// events published afterwards still go to the history.
func (b *Bus) Disconnect() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		b.drop(s, nil)
	}
}

// Log publishes a local event that happens now, as dockerd's daemon does:
// scope local, the time of this node's clock.
func (b *Bus) Log(action events.Action, typ events.Type, actor events.Actor) {
	now := b.cfg.Now().UTC()
	b.publish(record{Message: events.Message{
		Type:     typ,
		Action:   action,
		Actor:    actor,
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	}})
}

// publishSwarm publishes events derived from the store of cluster at raft
// index idx, unless the history holds that index already (a restarted
// manager applies again the raft entries since its last snapshot).
func (b *Bus) publishSwarm(cluster string, idx uint64, msgs []events.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hist.newer(cluster, idx) {
		return
	}
	for _, m := range msgs {
		b.publishLocked(record{Message: m, Cluster: cluster, Index: idx})
	}
	b.hist.seen(cluster, idx)
}

func (b *Bus) publish(r record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.publishLocked(r)
}

func (b *Bus) publishLocked(r record) {
	b.hist.add(r)
	if b.cfg.Published != nil {
		b.cfg.Published()
	}
	for s := range b.subs {
		if !s.filter.Include(r.Message) {
			continue
		}
		select {
		case s.ch <- r.Message:
		default:
			b.drop(s, ErrSlowReader)
		}
	}
}

// ErrSlowReader ends a subscription whose reader fell further behind than
// its buffer: the daemon never waits for a reader.
var ErrSlowReader = errors.New("events: the reader fell behind by more than its buffer and was dropped")

// Subscription is a live feed of events that pass its filter.
type Subscription struct {
	b      *Bus
	filter Filter
	ch     chan events.Message
	// err is why the bus ended the subscription; read it once C is closed.
	// Guarded by b.mu.
	err    error
	closed bool // guarded by b.mu
}

// C receives the events; it is closed when the subscription ends.
func (s *Subscription) C() <-chan events.Message { return s.ch }

// Err is why the bus ended the subscription (ErrSlowReader), nil when it
// did not or the bus was closed.
func (s *Subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.drop(s, nil)
}

// drop ends s; the caller holds b.mu.
func (b *Bus) drop(s *Subscription, why error) {
	if s.closed {
		return
	}
	s.closed, s.err = true, why
	delete(b.subs, s)
	close(s.ch)
	if why != nil {
		b.log.Warn("events reader dropped", "err", why)
	}
}

// Subscribers returns how many subscriptions are live (a metric).
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Subscribe returns the events of the history between since and until
// that pass f, oldest first, and a subscription to those published from
// now on; both are taken at once, so that no event falls between them or
// is in both. With since and until both zero, the history is not read, as
// in dockerd. The caller closes the subscription.
func (b *Bus) Subscribe(since, until time.Time, f Filter) ([]events.Message, *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []events.Message
	if !since.IsZero() || !until.IsZero() {
		past = b.hist.between(since, until, f)
	}
	s := &Subscription{b: b, filter: f, ch: make(chan events.Message, b.cfg.Buffer)}
	b.subs[s] = struct{}{}
	return past, s
}
