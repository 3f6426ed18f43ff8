package agent

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// LogSource reads the logs of this node's task containers.
type LogSource interface {
	// Logs calls out with the lines of the task's container log that
	// opts select, oldest first; with opts.Follow it then waits for more
	// until the container exits or ctx ends. A task without a container
	// here is an errdefs.NotFound error.
	Logs(ctx context.Context, taskID string, opts dispatcher.LogOptions, out func(stream int, ts time.Time, line []byte) error) error
}

// Batching of published lines: what the readers produced while the last
// batch was sent goes in the next, up to these bounds.
const (
	maxLogBatch      = 256
	maxLogBatchBytes = 1 << 20
)

// logReader reads the logs of one subscription's tasks and publishes them.
type logReader struct {
	ctx    context.Context // ends when the subscription is closed or fails
	cancel context.CancelFunc
	follow bool
	tasks  map[string]bool            // the tasks being read or read
	out    chan dispatcher.LogMessage // lines and End markers for the publisher
	done   chan struct{}              // closed when the publisher returned
}

// serveLogs answers the leader's log subscriptions for the session: each
// subscription's tasks are read here and published back on a stream of
// their own, until the session ends.
func (a *Agent) serveLogs(ctx context.Context, c *dispatcher.Client, sessionID string) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.LogSubscriptions(ctx, &dispatcher.LogSubscriptionsRequest{SessionID: sessionID})
	if err != nil {
		return err
	}
	readers := map[string]*logReader{}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		for id, r := range readers {
			select {
			case <-r.done:
				delete(readers, id)
			default:
			}
		}
		if m.Close {
			if r := readers[m.ID]; r != nil {
				r.cancel()
				delete(readers, m.ID)
			}
			continue
		}
		r := readers[m.ID]
		if r == nil {
			r = a.startPublisher(ctx, &wg, c, sessionID, m)
			readers[m.ID] = r
		} else if !r.follow {
			a.log.Warn("log subscription without follow asked again; ignored", "subscription.id", m.ID)
			continue
		}
		a.readLogs(&wg, r, m)
	}
}

// startPublisher starts a reader's publisher for subscription m.
func (a *Agent) startPublisher(ctx context.Context, wg *sync.WaitGroup, c *dispatcher.Client, sessionID string, m *dispatcher.LogSubscription) *logReader {
	rctx, cancel := context.WithCancel(ctx)
	r := &logReader{
		ctx:    rctx,
		cancel: cancel,
		follow: m.Options.Follow,
		tasks:  map[string]bool{},
		out:    make(chan dispatcher.LogMessage, maxLogBatch),
		done:   make(chan struct{}),
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(r.done)
		defer cancel() // a publisher that fails stops the readers
		if err := publish(rctx, c, sessionID, m.ID, r.out); err != nil && rctx.Err() == nil {
			a.log.Info("publishing logs ended", "subscription.id", m.ID, "err", err)
		}
	}()
	return r
}

// readLogs starts reading the tasks of m that r does not read yet. Without
// follow a subscription comes once: its output ends with its last task.
func (a *Agent) readLogs(wg *sync.WaitGroup, r *logReader, m *dispatcher.LogSubscription) {
	var tasks sync.WaitGroup
	for _, id := range m.TaskIDs {
		if r.tasks[id] {
			continue
		}
		r.tasks[id] = true
		tasks.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tasks.Done()
			a.readLog(r.ctx, id, m.Options, r.out)
		}()
	}
	if !r.follow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tasks.Wait()
			close(r.out)
		}()
	}
}

// readLog sends a task's lines, then its End marker, to out.
func (a *Agent) readLog(ctx context.Context, taskID string, opts dispatcher.LogOptions, out chan<- dispatcher.LogMessage) {
	send := func(m dispatcher.LogMessage) error {
		select {
		case out <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var err error
	if a.cfg.Logs == nil {
		err = errdefs.Unavailable("this node cannot read task logs")
	} else {
		err = a.cfg.Logs.Logs(ctx, taskID, opts, func(stream int, ts time.Time, line []byte) error {
			return send(dispatcher.LogMessage{TaskID: taskID, Stream: stream, Time: ts, Line: bytes.Clone(line)})
		})
	}
	if ctx.Err() != nil {
		return // closed: nobody waits for the end
	}
	end := dispatcher.LogMessage{TaskID: taskID, End: true}
	if err != nil && !errdefs.Is(err, errdefs.KindNotFound) {
		a.log.Warn("cannot read task log", "task.id", taskID, "err", err)
		end.Err = err.Error()
	}
	send(end)
}

// publish sends what out carries, in batches, until out is closed (then
// it waits for the leader to take it all) or ctx ends.
func publish(ctx context.Context, c *dispatcher.Client, sessionID, subID string, out <-chan dispatcher.LogMessage) error {
	stream, err := c.PublishLogs(ctx)
	if err != nil {
		return err
	}
	for {
		var batch []dispatcher.LogMessage
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-out:
			if !ok {
				return stream.CloseAndRecv()
			}
			batch = append(batch, m)
		}
		closed, size := false, len(batch[0].Line)
	gather:
		for len(batch) < maxLogBatch && size < maxLogBatchBytes {
			select {
			case m, ok := <-out:
				if !ok {
					closed = true
					break gather
				}
				batch = append(batch, m)
				size += len(m.Line)
			default:
				break gather
			}
		}
		if err := stream.Send(&dispatcher.PublishLogsMessage{SessionID: sessionID, SubscriptionID: subID, Messages: batch}); err != nil {
			return err
		}
		if closed {
			return stream.CloseAndRecv()
		}
	}
}
