// Package agent is what runs tasks on every node: it keeps one session to a
// manager's dispatcher, heartbeats, receives the node's assignments, runs a
// task manager per task that drives the executor's controller, reports
// each task's progress back in batches, and publishes its tasks' logs to
// the log subscriptions the leader sends it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/network/view"
	"github.com/shoal-project/shoal/internal/registryauth"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// Clock is the agent's time source.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return clock.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config sets up an Agent.
type Config struct {
	Executor executor.Executor
	// Logs reads the task containers' logs for `docker service logs`;
	// nil answers every log subscription with an error.
	Logs LogSource
	// Dial connects to the manager at a cluster address with the node's
	// certificate (clusterconn.DialGRPC).
	Dial func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	// Managers returns the addresses to try (the join address, the
	// managers known at the last start); the agent adds those its sessions
	// learn.
	Managers func() []string
	// NodeChanged, when set, is called with the node's object each time a
	// session brings a new version of its spec (a role or availability
	// change), and at the start of each session. It runs on the session's
	// goroutine and must return quickly.
	NodeChanged func(*store.Node)
	// TLSInfo, when set, says which roots the node trusts and who issued
	// its certificate; each session reports it in the node's description.
	TLSInfo func() swarm.TLSInfo
	// RootCAChanged, when set, is called with the roots and the issuer the
	// cluster wants (dispatcher.SessionMessage.RootCA) at the start of each
	// session and whenever they change. It runs on the session's goroutine
	// and must return quickly.
	RootCAChanged func(swarm.TLSInfo)
	// NetworksChanged, when set, is called with the node's network view
	// each time a session brings a new one, before the assignments that
	// came with it are taken in. It runs on the session's goroutine.
	NetworksChanged func(*view.Node)
	// TunnelKey is the node's WireGuard public key, sent to the managers
	// at each session; empty when the node has none.
	TunnelKey string
	// PortStatus, when set, says which host-mode ports a task publishes
	// on this node; its reports carry them (docker service ps shows them).
	PortStatus func(taskID string) []swarm.PortConfig
	// Clock is nil for the wall clock.
	Clock  Clock
	Logger *slog.Logger
}

// Agent runs a node's tasks. Make one with New and call Run once.
type Agent struct {
	cfg   Config
	clock Clock
	log   *slog.Logger
	rep   *reporter
	deps  *dependencies

	// tasks are the task managers by task ID; only the session that
	// receives assignments touches it, one session at a time.
	tasks map[string]*taskManager
	wg    sync.WaitGroup // the task managers' goroutines

	mu      sync.Mutex
	learned []string // managers' addresses from the last session message; guarded by mu
	hint    string   // the leader's address a follower gave; guarded by mu
	// endSession ends the current session; nil between sessions. Guarded
	// by mu.
	endSession context.CancelCauseFunc
	// cur is the current session (nil between sessions); hasSession is
	// closed while there is one. Guarded by mu.
	cur        *current
	hasSession chan struct{}
}

// maxLeaderHops is how many leader hints in a row the agent follows
// without backing off.
const maxLeaderHops = 3

// errReconnect ends a session that Reconnect asked to start again.
var errReconnect = errors.New("reconnecting with the node's new certificate")

// Reconnect ends the current session, if any, and starts a new one with
// the same manager at once, over a new connection. Call it when the
// node's certificate or trusted roots changed: the manager learns them
// from the connection and the description a session opens with.
func (a *Agent) Reconnect() {
	a.mu.Lock()
	end := a.endSession
	a.mu.Unlock()
	if end != nil {
		end(errReconnect)
	}
}

// New returns an agent; it does nothing until Run.
func New(cfg Config) *Agent {
	a := &Agent{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, rep: newReporter(), deps: newDependencies(), tasks: map[string]*taskManager{}, hasSession: make(chan struct{})}
	if a.clock == nil {
		a.clock = wallClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Managers returns the managers' addresses the last session announced,
// for the caller to keep across restarts.
func (a *Agent) Managers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.learned)
}

// ErrNodeRemoved is returned by Run when the managers say this node is no
// longer a member of the swarm.
var ErrNodeRemoved = errdefs.NotFound("this node was removed from the swarm")

// Run keeps a session to a manager, reconnecting with backoff (to another
// manager when one fails), and runs the assigned tasks until ctx ends, or
// until the node is removed from the swarm (an error wrapping
// ErrNodeRemoved). The containers are left running when it returns: the
// next agent adopts them, or the caller removes them.
func (a *Agent) Run(ctx context.Context) error {
	defer a.wg.Wait()
	// The task managers live on ctx: end them, whatever ends Run.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failures, hops := 0, 0
	last := ""
	for ctx.Err() == nil {
		addr := a.nextManager(last)
		if addr == "" {
			a.log.Warn("no manager address known; waiting")
		} else {
			established, err := a.connect(ctx, addr)
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, ErrNodeRemoved) {
				return err
			}
			// A follower that names the leader sends the agent there at
			// once: after a leader change every node must reach the new
			// leader within its grace, not after a backoff. A few hops
			// in a row at most, in case hints go stale.
			if hint := dispatcher.LeaderHint(err); hint != "" && hint != addr && hops < maxLeaderHops {
				hops++
				last = addr
				continue
			}
			hops = 0
			if errors.Is(err, errReconnect) {
				a.log.Info("reconnecting to the manager", "manager", addr)
				failures, last = 0, ""
				continue
			}
			if established {
				failures = 0
			}
			a.log.Warn("session to manager ended", "manager", addr, "err", err)
			last = addr
		}
		select {
		case <-ctx.Done():
		case <-a.clock.After(backoff(failures)):
		}
		failures++
	}
	return nil
}

// nextManager picks the manager to try: the leader a follower named, else
// the one after last.
func (a *Agent) nextManager(last string) string {
	a.mu.Lock()
	hint := a.hint
	a.hint = ""
	candidates := slices.Clone(a.learned)
	a.mu.Unlock()
	if hint != "" {
		return hint
	}
	if a.cfg.Managers != nil {
		candidates = append(candidates, a.cfg.Managers()...)
	}
	return pickManager(candidates, last)
}

// pickManager returns the manager after last in a stable order, so that
// successive failures walk through all of them.
func pickManager(candidates []string, last string) string {
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	if len(candidates) == 0 {
		return ""
	}
	i := slices.Index(candidates, last) // -1 when last is not there
	return candidates[(i+1)%len(candidates)]
}

// backoff is the wait before the next connection attempt after n failures
// in a row: exponential, capped, with jitter so that nodes restarted
// together do not reconnect in lockstep.
func backoff(n int) time.Duration {
	const base, ceiling = 100 * time.Millisecond, 10 * time.Second
	d := ceiling
	if n < 10 {
		d = min(base<<n, ceiling)
	}
	return d/2 + rand.N(d/2+1)
}

// connect runs one session to the manager at addr. established reports
// whether the session started (so the failures that follow are new ones).
func (a *Agent) connect(runCtx context.Context, addr string) (established bool, err error) {
	// The session has a context of its own, which Reconnect ends; the task
	// managers live on runCtx, beyond any one session.
	ctx, end := context.WithCancelCause(runCtx)
	defer end(nil)
	a.mu.Lock()
	a.endSession = end
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.endSession = nil
		if context.Cause(ctx) == errReconnect {
			a.hint = addr
			err = errReconnect
		}
	}()
	cc, err := a.cfg.Dial(ctx, addr)
	if err != nil {
		return false, err
	}
	defer cc.Close()
	err = a.session(runCtx, ctx, dispatcher.NewClient(cc), addr, &established)
	if hint := dispatcher.LeaderHint(err); hint != "" && hint != addr {
		a.mu.Lock()
		a.hint = hint
		a.mu.Unlock()
	}
	return established, err
}

// session opens a session on ctx and serves it: assignments in,
// heartbeats and status reports out, until one of them fails. The task
// managers it starts live on runCtx, beyond the session.
func (a *Agent) session(runCtx, ctx context.Context, c *dispatcher.Client, addr string, established *bool) error {
	desc, err := a.cfg.Executor.Describe(ctx)
	if err != nil {
		a.log.Warn("cannot describe the node; opening the session without a description", "err", err)
		desc = nil
	}
	if desc != nil && a.cfg.TLSInfo != nil {
		desc.TLSInfo = a.cfg.TLSInfo()
	}
	g, ctx := errgroup.WithContext(ctx)
	stream, err := c.Session(ctx, &dispatcher.SessionRequest{Description: desc, TunnelKey: a.cfg.TunnelKey})
	if err != nil {
		return err
	}
	first, err := recvWhole(stream)
	if err != nil {
		return sessionError(err)
	}
	*established = true
	log := a.log.With("manager", addr, "session.id", first.SessionID)
	log.Info("session started", "node.id", first.Node.ID)
	var period atomic.Int64
	period.Store(int64(first.HeartbeatPeriod))
	a.apply(runCtx, first, nil)
	a.setCurrent(&current{client: c, id: first.SessionID})
	defer a.setCurrent(nil)

	g.Go(func() error { return a.heartbeat(ctx, c, first.SessionID, &period) })
	g.Go(func() error { return a.rep.flush(ctx, c, first.SessionID, a.clock) })
	g.Go(func() error { return a.serveLogs(ctx, c, first.SessionID) })
	g.Go(func() error {
		prev := first
		for {
			m, err := recvWhole(stream)
			if err != nil {
				return sessionError(err)
			}
			if m.HeartbeatPeriod > 0 {
				period.Store(int64(m.HeartbeatPeriod))
			}
			a.apply(runCtx, m, prev)
			prev = m
		}
	})
	return g.Wait()
}

// recvWhole receives the next session message whole: an assignment set
// sent in parts (AssignmentSet.More) is taken in once its last part has
// arrived, so that a full set never looks like one without the tasks of
// its later parts.
func recvWhole(stream interface {
	Recv() (*dispatcher.SessionMessage, error)
}) (*dispatcher.SessionMessage, error) {
	m, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	for m.Assignments.More {
		next, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		next.Assignments = joinParts(m.Assignments, next.Assignments)
		if next.Networks == nil {
			next.Networks = m.Networks
		}
		m = next
	}
	return m, nil
}

// joinParts returns the set of two parts in a row: the objects of both,
// the first's Full, the second's More.
func joinParts(a, b dispatcher.AssignmentSet) dispatcher.AssignmentSet {
	return dispatcher.AssignmentSet{
		Full:    a.Full,
		More:    b.More,
		Tasks:   append(a.Tasks, b.Tasks...),
		Secrets: append(a.Secrets, b.Secrets...),
		Configs: append(a.Configs, b.Configs...),
	}
}

// sessionError classifies the error that ended a session stream: the
// dispatcher ends it with NotFound only when the node has no object.
func sessionError(err error) error {
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%w: %w", ErrNodeRemoved, err)
	}
	return err
}

// heartbeat tells the manager the node is alive every period.
func (a *Agent) heartbeat(ctx context.Context, c *dispatcher.Client, sessionID string, period *atomic.Int64) error {
	for {
		p := time.Duration(period.Load())
		if p <= 0 {
			p = dispatcher.DefaultHeartbeatPeriod
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(p):
		}
		hctx, cancel := context.WithTimeout(ctx, p)
		resp, err := c.Heartbeat(hctx, &dispatcher.HeartbeatRequest{SessionID: sessionID})
		cancel()
		if err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		if resp.Period > 0 {
			period.Store(int64(resp.Period))
		}
	}
}

// apply takes in a session message: the managers' list, the node, and the
// assignments.
func (a *Agent) apply(runCtx context.Context, m, prev *dispatcher.SessionMessage) {
	if len(m.Managers) > 0 {
		a.mu.Lock()
		a.learned = slices.Clone(m.Managers)
		a.mu.Unlock()
	}
	if a.cfg.NodeChanged != nil && m.Node != nil && (prev == nil || prev.Node == nil || prev.Node.Version != m.Node.Version) {
		a.cfg.NodeChanged(m.Node)
	}
	if a.cfg.RootCAChanged != nil && m.RootCA.TrustRoot != "" && (prev == nil || !reflect.DeepEqual(prev.RootCA, m.RootCA)) {
		a.cfg.RootCAChanged(m.RootCA)
	}
	if a.cfg.NetworksChanged != nil && m.Networks != nil {
		a.cfg.NetworksChanged(m.Networks)
	}
	a.assign(runCtx, m.Assignments)
}

// report queues a task's status, with the host-mode ports it publishes
// once it runs.
func (a *Agent) report(taskID string, st swarm.TaskStatus) {
	if a.cfg.PortStatus != nil && st.State == swarm.TaskStateRunning {
		st.PortStatus = swarm.PortStatus{Ports: a.cfg.PortStatus(taskID)}
	}
	a.rep.report(taskID, st)
}

// assign takes in the set's secrets and configs, then starts a task
// manager for each new task, hands the others their new assignment, and,
// for a full set, tells the managers of tasks not in it that their task
// was deleted.
func (a *Agent) assign(runCtx context.Context, set dispatcher.AssignmentSet) {
	a.deps.update(set)
	in := make(map[string]bool, len(set.Tasks))
	for _, t := range set.Tasks {
		in[t.ID] = true
		if m := a.tasks[t.ID]; m != nil {
			m.update(t)
			continue
		}
		ctlr, err := a.cfg.Executor.Controller(&t.Task, a.deps)
		if err != nil {
			a.refuse(t, err)
			continue
		}
		a.log.Debug("task assigned", "task.id", t.ID, "task.desired", t.DesiredState)
		// The task's image is pulled with its service's credentials.
		m := newTaskManager(registryauth.NewContext(runCtx, t.RegistryAuth), t, ctlr, a.report, a.clock, a.log)
		a.tasks[t.ID] = m
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			m.run(runCtx)
		}()
	}
	if !set.Full {
		return
	}
	for id, m := range a.tasks {
		if !in[id] {
			m.forget()
			delete(a.tasks, id)
		}
	}
}

// refuse reports as rejected a task the executor cannot even make a
// controller for (its spec is unusable).
func (a *Agent) refuse(t *store.Task, err error) {
	if taskstate.Terminal(t.Status.State) {
		return
	}
	a.log.Warn("task rejected: no controller", "task.id", t.ID, "err", err)
	a.rep.report(t.ID, swarm.TaskStatus{State: swarm.TaskStateRejected, Message: "preparing", Err: err.Error(), Timestamp: a.clock.Now()})
}
