package faults

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// recorder keeps the history: every call with its invocation and response
// times, in nanoseconds since start.
type recorder struct {
	start time.Time
	value atomic.Int64 // the last value handed out; writes use each once

	mu  sync.Mutex
	ops []porcupine.Operation // guarded by mu
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) nextValue() int { return int(r.value.Add(1)) }

// call runs fn as client's call of in and records it.
func (r *recorder) call(client int, in Input, fn func() Output) Output {
	begin := r.now()
	out := fn()
	end := r.now()
	r.mu.Lock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: begin, Output: out, Return: end})
	r.mu.Unlock()
	return out
}

// history returns what was recorded, with unanswered calls made to end
// after everything else (they may take effect at any later time), and
// unanswered reads dropped (they tell nothing).
func (r *recorder) history() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last int64
	for _, op := range r.ops {
		last = max(last, op.Return)
	}
	out := make([]porcupine.Operation, 0, len(r.ops))
	for _, op := range r.ops {
		if op.Output.(Output).Outcome == Unknown {
			if op.Input.(Input).Op == OpRead {
				continue
			}
			op.Return = last + int64(time.Second)
		}
		out = append(out, op)
	}
	slices.SortStableFunc(out, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
	return out
}

// workload is the clients' part of a run.
type workload struct {
	keys     []string
	managers []*apiClient
	rec      *recorder
	clients  int
	seed     uint64
}

// run has each client call random managers about random services until
// ctx ends: reads, updates from the version it last read, creates and
// removes. Calls in flight when ctx ends finish first (each is bounded).
func (w *workload) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.clients {
		wg.Go(func() { w.client(ctx, i) })
	}
	wg.Wait()
}

func (w *workload) client(ctx context.Context, id int) {
	r := rand.New(rand.NewPCG(w.seed, uint64(id)+1))
	known := map[string]uint64{} // the version this client last read, per service
	for ctx.Err() == nil {
		key := w.keys[r.IntN(len(w.keys))]
		m := w.managers[r.IntN(len(w.managers))]
		// Calls run to their own bound even past the end of the run, so
		// that none is cut short by the end alone.
		cctx := context.WithoutCancel(ctx)
		from, haveVersion := known[key]
		switch p := r.IntN(100); {
		case haveVersion && p < 45:
			in := Input{Op: OpUpdate, Key: key, Value: w.rec.nextValue(), From: from}
			w.rec.call(id, in, func() Output {
				out := outcome(OpUpdate, m.update(cctx, key, in.Value, from))
				out.Manager = m.host
				return out
			})
			delete(known, key)
		case p < 80:
			out := w.rec.call(id, Input{Op: OpRead, Key: key}, func() Output {
				out := m.read(cctx, key)
				out.Manager = m.host
				return out
			})
			if out.Outcome == OK {
				known[key] = out.Version
			}
		case p < 92:
			in := Input{Op: OpCreate, Key: key, Value: w.rec.nextValue()}
			w.rec.call(id, in, func() Output {
				out := outcome(OpCreate, m.create(cctx, key, in.Value))
				out.Manager = m.host
				return out
			})
		default:
			w.rec.call(id, Input{Op: OpRemove, Key: key}, func() Output {
				out := outcome(OpRemove, m.remove(cctx, key))
				out.Manager = m.host
				return out
			})
			delete(known, key)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(50+r.IntN(250)) * time.Millisecond):
		}
	}
}
