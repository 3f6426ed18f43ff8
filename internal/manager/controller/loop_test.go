package controller_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-project/shoal/internal/manager/controller"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

// recorder is a Pass that records when it ran and answers from a script.
type recorder struct {
	mu    sync.Mutex
	runs  []time.Time
	reply func(n int) (time.Time, error)
}

func (r *recorder) pass(_ context.Context, now time.Time) (time.Time, error) {
	r.mu.Lock()
	r.runs = append(r.runs, now)
	n := len(r.runs)
	r.mu.Unlock()
	if r.reply == nil {
		return time.Time{}, nil
	}
	return r.reply(n)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

func startLoop(t *testing.T, r *recorder) (stop func()) {
	t.Helper()
	st := ct.NewStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	l := &controller.Loop{Name: "test", Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Pass: r.pass, Resync: time.Minute}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil on cancel", err)
		}
	}
}

func TestLoopWakesOnEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		st := ct.NewStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		l := &controller.Loop{Name: "test", Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Pass: r.pass, Resync: time.Hour}
		go l.Run(ctx)
		synctest.Wait()
		if got := r.count(); got != 1 {
			t.Fatalf("got %d passes at start, want 1", got)
		}
		ct.Put(t, st, ct.Node("n1"))
		time.Sleep(time.Second)
		if got := r.count(); got != 2 {
			t.Fatalf("got %d passes after an event, want 2", got)
		}
	})
}

func TestLoopRunsAtRequestedTimeAndResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r := &recorder{reply: func(n int) (time.Time, error) {
			if n == 1 {
				return time.Now().Add(3 * time.Second), nil
			}
			return time.Time{}, nil
		}}
		stop := startLoop(t, r)
		time.Sleep(3*time.Second + time.Minute + time.Millisecond)
		stop()
		r.mu.Lock()
		defer r.mu.Unlock()
		want := []time.Duration{0, 3 * time.Second, 3*time.Second + time.Minute}
		if len(r.runs) != len(want) {
			t.Fatalf("got %d passes, want %d", len(r.runs), len(want))
		}
		for i, at := range r.runs {
			if got := at.Sub(start); got != want[i] {
				t.Errorf("pass %d ran at +%v, want +%v", i, got, want[i])
			}
		}
	})
}

func TestLoopSurvivesPanicsAndErrorsWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r := &recorder{reply: func(n int) (time.Time, error) {
			switch n {
			case 1:
				panic("boom")
			case 2:
				return time.Time{}, errors.New("store unavailable")
			}
			return time.Time{}, nil
		}}
		stop := startLoop(t, r)
		time.Sleep(time.Second)
		stop()
		r.mu.Lock()
		defer r.mu.Unlock()
		want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond}
		if len(r.runs) != len(want) {
			t.Fatalf("got %d passes, want %d", len(r.runs), len(want))
		}
		for i, at := range r.runs {
			if got := at.Sub(start); got != want[i] {
				t.Errorf("pass %d ran at +%v, want +%v", i, got, want[i])
			}
		}
	})
}

func TestLoopIgnoresEventsItDoesNotWantButNotTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		st := ct.NewStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		l := &controller.Loop{
			Name: "test", Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Pass: r.pass, Resync: time.Minute,
			Wakes: func(ev store.Event) bool { _, isTask := ev.Object.(*store.Task); return isTask },
		}
		go l.Run(ctx)
		synctest.Wait()
		ct.Put(t, st, ct.Node("n1"))
		time.Sleep(time.Second)
		if got := r.count(); got != 1 {
			t.Fatalf("got %d passes after an unwanted event, want 1", got)
		}
		ct.Put(t, st, ct.Task("t1", ct.Service("svc", "web", 1), 1, ""))
		time.Sleep(time.Second)
		if got := r.count(); got != 2 {
			t.Fatalf("got %d passes after a wanted event, want 2", got)
		}
		time.Sleep(time.Minute)
		if got := r.count(); got != 3 {
			t.Fatalf("got %d passes after the resync, want 3", got)
		}
	})
}
