package store

import (
	"context"
	"sync"
	"time"
)

// Event is one applied change. Object is a *Cluster, *Node, *Service,
// *Task, *Secret, *Config or *Network; it is nil for OpReset. Index and
// Time are those of the batch that made the change (for OpReset, the
// snapshot's index and no time): the same on every manager, so what is
// derived from events, such as Docker's swarm events, is too.
type Event struct {
	Op     Op
	Object any
	Index  uint64
	Time   time.Time
}

// Subscription receives the events applied after it was made. Events are
// queued without bound and never dropped, so a slow reader cannot stall
// the applier nor miss a change; readers that reconcile whole state may
// simply drain and ignore them.
type Subscription struct {
	s    *Store
	wake chan struct{} // capacity 1: a pending wake-up

	mu      sync.Mutex
	pending []Event // guarded by mu
}

// Subscribe starts a subscription. Subscribe before reading the state that
// the events will change, so that nothing falls between the two.
func (s *Store) Subscribe() *Subscription {
	sub := &Subscription{s: s, wake: make(chan struct{}, 1)}
	s.subsMu.Lock()
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	return sub
}

// Close ends the subscription.
func (sub *Subscription) Close() {
	sub.s.subsMu.Lock()
	delete(sub.s.subs, sub)
	sub.s.subsMu.Unlock()
}

// Next waits for events and returns all queued so far.
func (sub *Subscription) Next(ctx context.Context) ([]Event, error) {
	for {
		sub.mu.Lock()
		evs := sub.pending
		sub.pending = nil
		sub.mu.Unlock()
		if len(evs) > 0 {
			return evs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sub.wake:
		}
	}
}

// Wake returns a channel that receives a value when events are queued,
// for loops that also wait on timers.
func (sub *Subscription) Wake() <-chan struct{} { return sub.wake }

// Drain returns the queued events without waiting.
func (sub *Subscription) Drain() []Event {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	evs := sub.pending
	sub.pending = nil
	return evs
}

func (s *Store) publish(events []Event) {
	if len(events) == 0 {
		return
	}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for sub := range s.subs {
		sub.mu.Lock()
		sub.pending = append(sub.pending, events...)
		sub.mu.Unlock()
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}
