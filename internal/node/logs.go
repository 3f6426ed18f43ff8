package node

import (
	"context"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/apiserver"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/store"
)

// Logs reads the output of swarm tasks for `docker service logs`. Tasks on
// this node are read from their containers' logs.
func (n *Node) Logs(ctx context.Context, sel apiserver.LogSelector, opts containerdexec.LogOptions,
	write func(taskID, nodeID string, stream int, ts time.Time, line []byte) error) error {
	n.mu.Lock()
	mgr, mem := n.mgr, n.mem
	n.mu.Unlock()
	if mgr == nil || mem == nil {
		return errNotManager
	}
	var (
		mu      sync.Mutex // serialises write across tasks
		wg      sync.WaitGroup
		started = map[string]bool{}
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	follow := func(t *store.Task) {
		defer wg.Done()
		err := n.cfg.Engine.Executor.Logs(ctx, containerdexec.ContainerID(t.ID), opts, func(stream int, ts time.Time, line []byte) error {
			mu.Lock()
			defer mu.Unlock()
			return write(t.ID, t.NodeID, stream, ts, line)
		})
		if err != nil && !errdefs.Is(err, errdefs.KindNotFound) && ctx.Err() == nil {
			errOnce.Do(func() { first = err; cancel() })
		}
	}
	startNew := func() {
		for _, t := range n.selectTasks(mgr.store, sel) {
			if started[t.ID] || t.NodeID != mem.NodeID || t.Status.ContainerStatus == nil {
				continue
			}
			started[t.ID] = true
			wg.Add(1)
			go follow(t)
		}
	}
	startNew()
	if opts.Follow && sel.ServiceID != "" {
		// Tasks started while following are followed too.
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-t.C:
				startNew()
			}
		}
	}
	wg.Wait()
	return first
}

func (n *Node) selectTasks(st *store.Store, sel apiserver.LogSelector) []*store.Task {
	var out []*store.Task
	st.View(func(tx store.ReadTx) {
		if sel.ServiceID != "" {
			out = store.TasksByService(tx, sel.ServiceID)
			return
		}
		for _, id := range sel.TaskIDs {
			if t := store.Get[*store.Task](tx, id); t != nil {
				out = append(out, t)
			}
		}
	})
	return out
}
