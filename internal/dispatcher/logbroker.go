package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// The leader's end of the log broker described in logs.go.

// logSilence is how long a node asked for logs without follow may send
// nothing for the subscription before its tasks' logs end as incomplete.
// A node that answers reads local files and sends lines or End markers
// within milliseconds; one silent for Docker's heartbeat period is cut off
// or stuck, and waiting for its heartbeats to run out (three periods, and
// the node may keep its session past that) would hold up the whole
// `docker service logs`.
const logSilence = 5 * time.Second

// logQueue holds the log subscription messages for a session's node until
// its agent's LogSubscriptions stream takes them, so that pushing never
// waits for a node.
type logQueue struct {
	mu    sync.Mutex
	msgs  []*LogSubscription // guarded by mu
	ready chan struct{}      // capacity 1: msgs is not empty
}

func newLogQueue() *logQueue { return &logQueue{ready: make(chan struct{}, 1)} }

func (q *logQueue) push(m *LogSubscription) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *logQueue) take() []*LogSubscription {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs := q.msgs
	q.msgs = nil
	return msgs
}

// logSubscription is the part of a SubscribeLogs call that the nodes'
// PublishLogs calls reach.
type logSubscription struct {
	id   string
	in   chan published
	done chan struct{} // closed when the SubscribeLogs call ends
}

// published is what a node sent on a PublishLogs stream.
type published struct {
	nodeID    string // from the node's certificate
	sessionID string
	msgs      []LogMessage
}

// LogSubscriptions streams to a node's agent the log subscriptions that
// concern it, for as long as its session lasts.
func (d *Dispatcher) LogSubscriptions(req *LogSubscriptionsRequest, stream grpc.ServerStream) error {
	ctx := stream.Context()
	id, _, err := d.caller(ctx)
	if err != nil {
		return toStatus(err)
	}
	d.mu.Lock()
	s := d.sessions[id.NodeID]
	d.mu.Unlock()
	if s == nil || s.id != req.SessionID {
		return toStatus(errdefs.NotFound("session %q of node %s is not current: open a new session", req.SessionID, id.NodeID))
	}
	for {
		for _, m := range s.logs.take() {
			if err := stream.SendMsg(m); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return toStatus(errdefs.Unavailable("session %q ended", s.id))
		case <-s.logs.ready:
		}
	}
}

// PublishLogs takes a node's lines for a subscription to its
// SubscribeLogs call. It waits while the subscriber is behind, so that a
// node cannot read faster than the subscriber takes.
func (d *Dispatcher) PublishLogs(stream grpc.ServerStream) error {
	ctx := stream.Context()
	id, _, err := d.caller(ctx)
	if err != nil {
		return toStatus(err)
	}
	var sub *logSubscription
	for {
		m := new(PublishLogsMessage)
		if err := stream.RecvMsg(m); err != nil {
			if errors.Is(err, io.EOF) {
				return stream.SendMsg(&PublishLogsResponse{})
			}
			return err
		}
		if sub == nil {
			d.mu.Lock()
			sub = d.logSubs[m.SubscriptionID]
			d.mu.Unlock()
			if sub == nil {
				return toStatus(errdefs.NotFound("log subscription %q ended", m.SubscriptionID))
			}
		}
		if m.SubscriptionID != sub.id {
			return toStatus(errdefs.Invalid("a PublishLogs stream carries one subscription (%s), got lines for %s", sub.id, m.SubscriptionID))
		}
		select {
		case sub.in <- published{nodeID: id.NodeID, sessionID: m.SessionID, msgs: m.Messages}:
		case <-sub.done:
			return toStatus(errdefs.NotFound("log subscription %q ended", sub.id))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// SubscribeLogs streams the logs of the selected tasks from the nodes that
// ran them (see logs.go). Only the leader serves it.
func (d *Dispatcher) SubscribeLogs(req *SubscribeLogsRequest, stream grpc.ServerStream) error {
	ctx := stream.Context()
	_, tm, err := d.caller(ctx)
	if err != nil {
		return toStatus(err)
	}
	if err := validSelector(req.Selector); err != nil {
		return toStatus(err)
	}
	r := &logRun{
		d:       d,
		req:     req,
		send:    func(b *LogBatch) error { return stream.SendMsg(b) },
		sub:     &logSubscription{id: identity.NewID(), in: make(chan published), done: make(chan struct{})},
		tasks:   map[string]*logTask{},
		watched: map[*session]bool{},
		gone:    make(chan *session),
		waiting: map[string]*waitingNode{},
	}
	var events *store.Subscription
	if req.Options.Follow {
		// Subscribe before the first read, so that no task falls between.
		events = d.store.Subscribe()
		defer events.Close()
	}
	d.mu.Lock()
	d.logSubs[r.sub.id] = r.sub
	d.mu.Unlock()
	defer r.close()
	err = r.run(ctx, tm, events)
	if ctx.Err() != nil {
		return ctx.Err() // the subscriber went away: nobody to tell
	}
	return toStatus(err)
}

// logRun is the state of one SubscribeLogs call; only its goroutine
// touches it.
type logRun struct {
	d    *Dispatcher
	req  *SubscribeLogsRequest
	send func(*LogBatch) error
	sub  *logSubscription

	tasks   map[string]*logTask // the tasks pushed to a node, by ID
	watched map[*session]bool   // the sessions pushed to, watched for their end
	gone    chan *session       // a watched session ended

	// Without follow: the sessions that owe the End of some task, by
	// session ID, and the time spent sending to the subscriber, which the
	// quiet clock leaves out (see quietNow).
	waiting map[string]*waitingNode
	busy    time.Duration
}

// waitingNode is a node that owes, without follow, the End of some of
// the tasks pushed to it.
type waitingNode struct {
	s       *session
	pending int       // tasks pushed to s whose End has not come
	heard   time.Time // when s was pushed to or last sent something, on the quiet clock
}

// logTask is a task whose log was asked of its node.
type logTask struct {
	nodeID string
	sess   *session  // the session it was pushed to; nil while its node is away (following)
	ended  bool      // its End marker came, or its node went away (not following)
	last   time.Time // when its last line received was written
}

func (r *logRun) run(ctx context.Context, tm *term, events *store.Subscription) error {
	follow := r.req.Options.Follow
	started := r.push()
	var silence <-chan time.Time // fires when a node may have been silent too long
	var silenceAt time.Time      // when, on the quiet clock
	for {
		if !follow {
			next, err := r.endSilent()
			if err != nil {
				return err
			}
			if r.complete() {
				return nil
			}
			// A timer armed for a later time, or that fires early
			// because a node spoke since, is simply checked again.
			if !next.IsZero() && (silence == nil || next.Before(silenceAt)) {
				silence, silenceAt = r.d.clock.After(next.Sub(r.quietNow())), next
			}
		}
		var wake <-chan struct{}
		if events != nil {
			wake = events.Wake()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tm.done:
			return &notLeaderError{leader: r.d.leaderAddr()}
		case p := <-r.sub.in:
			if err := r.forward(p); err != nil {
				return err
			}
		case s := <-r.gone:
			if err := r.sendEnds(r.lost(s)); err != nil {
				return err
			}
			if follow {
				started = r.push()
			}
		case <-silence:
			silence = nil
		case <-wake:
			if concernsLogs(events.Drain(), r.req.Selector) {
				started = r.push()
			}
		case <-started:
			started = r.push()
		}
	}
}

// push asks the nodes for the logs of the selected tasks not asked for
// yet, or, when following, of those whose node came back. It returns,
// when following, a channel closed when a session starts next.
func (r *logRun) push() <-chan struct{} {
	var tasks []*store.Task
	r.d.store.View(func(tx store.ReadTx) { tasks = selectTasks(tx, r.req.Selector) })
	type target struct {
		s    *session
		opts LogOptions
	}
	var order []target
	groups := map[target][]string{}
	r.d.mu.Lock()
	for _, t := range tasks {
		lt := r.tasks[t.ID]
		if !hasLogs(t) || (lt != nil && (lt.ended || lt.sess != nil)) {
			continue
		}
		s := r.d.sessions[t.NodeID]
		if s == nil {
			continue // its node is down: skipped, or, following, pushed when it is back
		}
		opts := r.req.Options
		if lt == nil {
			lt = &logTask{}
			r.tasks[t.ID] = lt
		} else {
			opts = resumeOptions(opts, lt.last)
		}
		lt.nodeID, lt.sess = t.NodeID, s
		if !r.req.Options.Follow {
			r.await(s)
		}
		k := target{s: s, opts: opts}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], t.ID)
	}
	var started <-chan struct{}
	if r.req.Options.Follow {
		started = r.d.sessionStarted
	}
	r.d.mu.Unlock()
	for _, k := range order {
		k.s.logs.push(&LogSubscription{ID: r.sub.id, TaskIDs: groups[k], Options: k.opts})
		r.watch(k.s)
	}
	return started
}

// watch reports on r.gone when s ends, if it does before the call.
func (r *logRun) watch(s *session) {
	if r.watched[s] {
		return
	}
	r.watched[s] = true
	go func() {
		select {
		case <-s.done:
			select {
			case r.gone <- s:
			case <-r.sub.done:
			}
		case <-r.sub.done:
		}
	}()
}

// await counts a task pushed to s, without follow: s owes its End.
func (r *logRun) await(s *session) {
	w := r.waiting[s.id]
	if w == nil {
		w = &waitingNode{s: s, heard: r.quietNow()}
		r.waiting[s.id] = w
	}
	w.pending++
}

// quietNow is the time on a clock that stands still while the run sends
// to the subscriber: a node whose lines wait for a slow subscriber is not
// silent.
func (r *logRun) quietNow() time.Time { return r.d.clock.Now().Add(-r.busy) }

// sendBatch sends to the subscriber, keeping the time it takes off the
// quiet clock.
func (r *logRun) sendBatch(b *LogBatch) error {
	start := r.d.clock.Now()
	err := r.send(b)
	r.busy += r.d.clock.Now().Sub(start)
	return err
}

// sendEnds sends End markers, if there are any.
func (r *logRun) sendEnds(ends []LogMessage) error {
	if len(ends) == 0 {
		return nil
	}
	return r.sendBatch(&LogBatch{Messages: ends})
}

// lost takes in that a node's session ended: its tasks' logs end there,
// incomplete, or, when following, wait for the node to come back. It
// returns the End markers for the subscriber.
func (r *logRun) lost(s *session) []LogMessage {
	delete(r.watched, s)
	var ends []LogMessage
	if !r.req.Options.Follow {
		ends = r.incomplete(s, "the node's session ended before its logs did")
	}
	for _, lt := range r.tasks {
		if lt.sess == s && !lt.ended {
			lt.sess = nil
		}
	}
	return ends
}

// endSilent gives up, without follow, on the nodes that sent nothing for
// logSilence: their tasks' logs end, incomplete, and the nodes are told
// to stop. It returns when the next of the others would be silent too
// long, on the quiet clock (zero when none is awaited).
func (r *logRun) endSilent() (time.Time, error) {
	ids, next := silent(r.waiting, r.quietNow(), logSilence)
	var ends []LogMessage
	for _, id := range ids {
		s := r.waiting[id].s
		r.d.log.Warn("node sent no logs in time: its tasks' logs end incomplete", "node.id", s.nodeID, "subscription.id", r.sub.id, "silence", logSilence)
		ends = append(ends, r.incomplete(s, fmt.Sprintf("the node sent nothing for %v", logSilence))...)
		s.logs.push(&LogSubscription{ID: r.sub.id, Close: true})
	}
	return next, r.sendEnds(ends)
}

// silent decides which of the waiting nodes, by session ID, were last
// heard from limit or longer before now, in order; next is when the
// earliest of the others will have been silent that long (zero when none
// is left).
func silent(waiting map[string]*waitingNode, now time.Time, limit time.Duration) (ids []string, next time.Time) {
	for id, w := range waiting {
		deadline := w.heard.Add(limit)
		if !now.Before(deadline) {
			ids = append(ids, id)
			continue
		}
		if next.IsZero() || deadline.Before(next) {
			next = deadline
		}
	}
	slices.Sort(ids)
	return ids, next
}

// incomplete ends the logs of the tasks read in session s that have not
// ended, and returns their End markers, saying why they are incomplete.
// The session is no longer awaited.
func (r *logRun) incomplete(s *session, why string) []LogMessage {
	delete(r.waiting, s.id)
	var ends []LogMessage
	for id, lt := range r.tasks {
		if lt.sess != s || lt.ended {
			continue
		}
		lt.ended = true
		ends = append(ends, LogMessage{TaskID: id, NodeID: lt.nodeID, End: true, Err: "incomplete log stream: " + why})
	}
	slices.SortFunc(ends, func(a, b LogMessage) int { return strings.Compare(a.TaskID, b.TaskID) })
	return ends
}

// forward sends the subscriber what a node published for tasks it was
// asked about, in the session it was asked in; anything else is dropped,
// so that a node cannot speak for another's tasks.
func (r *logRun) forward(p published) error {
	w := r.waiting[p.sessionID]
	if w != nil && w.s.nodeID != p.nodeID {
		w = nil // another node's session: it speaks for no one here
	}
	out := make([]LogMessage, 0, len(p.msgs))
	for _, m := range p.msgs {
		lt := r.tasks[m.TaskID]
		if lt == nil || lt.ended || lt.sess == nil || lt.nodeID != p.nodeID || lt.sess.id != p.sessionID {
			continue
		}
		m.NodeID = p.nodeID
		if m.End {
			lt.ended = true
			if w != nil {
				w.pending--
			}
		} else if m.Time.After(lt.last) {
			lt.last = m.Time
		}
		out = append(out, m)
	}
	if w != nil {
		// Anything the node sends, even a message without lines, shows
		// that it is still reading.
		w.heard = r.quietNow()
		if w.pending <= 0 {
			delete(r.waiting, p.sessionID)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return r.sendBatch(&LogBatch{Messages: out})
}

// complete reports whether every task pushed has ended.
func (r *logRun) complete() bool {
	for _, lt := range r.tasks {
		if !lt.ended {
			return false
		}
	}
	return true
}

// close ends the subscription: PublishLogs calls for it stop, and the
// nodes still reading are told to stop.
func (r *logRun) close() {
	r.d.mu.Lock()
	delete(r.d.logSubs, r.sub.id)
	r.d.mu.Unlock()
	close(r.sub.done)
	reading := map[*session]bool{}
	for _, lt := range r.tasks {
		if lt.sess != nil && !lt.ended && !reading[lt.sess] {
			reading[lt.sess] = true
			lt.sess.logs.push(&LogSubscription{ID: r.sub.id, Close: true})
		}
	}
}

// validSelector checks that a selector names a service or tasks.
func validSelector(sel LogSelector) error {
	if (sel.ServiceID == "") == (len(sel.TaskIDs) == 0) {
		return errdefs.Invalid("a log selector names a service or tasks, not both nor neither")
	}
	return nil
}

// selectTasks returns the tasks a selector names that exist.
func selectTasks(tx store.ReadTx, sel LogSelector) []*store.Task {
	if sel.ServiceID != "" {
		return store.TasksByService(tx, sel.ServiceID)
	}
	var out []*store.Task
	for _, id := range sel.TaskIDs {
		if t := store.Get[*store.Task](tx, id); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// hasLogs reports whether a task has a log to read on its node: it ran,
// or runs, there.
func hasLogs(t *store.Task) bool {
	return t.NodeID != "" && taskstate.Rank(t.Status.State) >= taskstate.Rank(swarm.TaskStateRunning)
}

// resumeOptions are the options that go on reading a followed task's log
// after its last line received (at last), without repeating lines.
func resumeOptions(opts LogOptions, last time.Time) LogOptions {
	if last.IsZero() {
		return opts
	}
	opts.Tail = -1
	opts.Since = last.Add(time.Nanosecond)
	return opts
}

// concernsLogs reports whether events may change the tasks a followed
// selector picks.
func concernsLogs(evs []store.Event, sel LogSelector) bool {
	for _, ev := range evs {
		switch o := ev.Object.(type) {
		case nil: // the store was replaced by a snapshot
			return true
		case *store.Task:
			if (sel.ServiceID != "" && o.ServiceID == sel.ServiceID) || slices.Contains(sel.TaskIDs, o.ID) {
				return true
			}
		}
	}
	return false
}
