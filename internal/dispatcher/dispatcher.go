package dispatcher

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// DefaultHeartbeatPeriod is Docker's, used when the cluster spec has none.
const DefaultHeartbeatPeriod = 5 * time.Second

// HeartbeatGrace is how many periods may pass without a heartbeat before a
// node is marked down.
const HeartbeatGrace = 3

// NewLeaderGrace is the least time a new leader gives a node it has not
// heard from yet before marking it down: a little more than the agent's
// longest reconnect backoff (10 s), so that a node of the earlier leader
// that was backing off finds this one first.
const NewLeaderGrace = 12 * time.Second

// Clock is the dispatcher's time source.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return clock.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config sets up a Dispatcher.
type Config struct {
	Store *store.Store
	// LeaderAddr returns the leader's cluster address ("" when unknown).
	// A manager that does not lead refuses nodes with codes.Unavailable
	// and names the leader (LeaderHint), so that they go there. Nil names
	// nobody.
	LeaderAddr func() string
	// Attachments records plain containers' network attachments; nil
	// refuses them.
	Attachments Attachments
	// Clock is nil for the wall clock.
	Clock  Clock
	Logger *slog.Logger
	// MaxMessageSize bounds a session message (rpc.MaxMessageSize, what
	// agents accept, when zero; tests set less).
	MaxMessageSize int
}

// Dispatcher serves the shoal.Dispatcher service on a manager. It serves
// nodes only while RunLeader runs, since only the leader writes the store;
// otherwise it refers them to the leader.
type Dispatcher struct {
	store      *store.Store
	leaderAddr func() string
	// attachments may be nil (Config.Attachments).
	attachments Attachments
	clock       Clock
	log         *slog.Logger
	maxMessage  int

	// statusQueue carries UpdateTaskStatus calls to RunLeader's committer,
	// which writes those that wait together in one store update.
	statusQueue chan *statusRequest

	mu       sync.Mutex
	term     *term                    // the current leadership term; nil while not leading; guarded by mu
	sessions map[string]*session      // by node ID; guarded by mu
	lastSeen map[string]time.Time     // node ID → last heartbeat or session start; guarded by mu
	told     map[string]time.Duration // node ID → heartbeat period it was last told; guarded by mu
	// sessionStarted is closed, and replaced, each time a session starts,
	// for followed log subscriptions to push to nodes that come back.
	// Guarded by mu.
	sessionStarted chan struct{}
	logSubs        map[string]*logSubscription // by ID; guarded by mu
}

// term is one stretch of time during which this manager leads.
type term struct {
	done   chan struct{} // closed when it ends
	router *router       // wakes the term's sessions; never nil
}

// session is a node's current session.
type session struct {
	id     string
	nodeID string
	end    context.CancelCauseFunc
	done   <-chan struct{} // closed when the session ends
	wake   chan struct{}   // capacity 1: something the node's agent is told may have changed
	logs   *logQueue       // log subscriptions for the node's agent
}

// poke wakes the session, if it is not already due to wake.
func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// New returns a dispatcher over cfg.Store.
func New(cfg Config) *Dispatcher {
	d := &Dispatcher{
		store:       cfg.Store,
		leaderAddr:  cfg.LeaderAddr,
		attachments: cfg.Attachments,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		maxMessage:  cfg.MaxMessageSize,
		statusQueue: make(chan *statusRequest),
		sessions:    map[string]*session{},
		lastSeen:    map[string]time.Time{},
		told:        map[string]time.Duration{},

		sessionStarted: make(chan struct{}),
		logSubs:        map[string]*logSubscription{},
	}
	if d.leaderAddr == nil {
		d.leaderAddr = func() string { return "" }
	}
	if d.clock == nil {
		d.clock = wallClock{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.maxMessage <= 0 {
		d.maxMessage = rpc.MaxMessageSize
	}
	return d
}

// Register adds the service to a gRPC server (clusterconn.NewGRPCServer with
// Policy merged into its policy).
func (d *Dispatcher) Register(s grpc.ServiceRegistrar) {
	s.RegisterService(&ServiceDesc, d)
}

// RunLeader serves nodes while this manager leads, that is until ctx ends
// (consensus.Node.RunWhileLeader's context, once the store has caught up
// with the log): it routes the store's changes to the sessions they
// concern, commits the nodes' status updates and marks down those whose
// heartbeats stop. When it returns, every session ends, referring
// its node to the next leader.
func (d *Dispatcher) RunLeader(ctx context.Context) {
	tm := &term{done: make(chan struct{}), router: newRouter(d.store)}
	since := d.clock.Now()
	d.mu.Lock()
	d.term = tm
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.term = nil
		close(tm.done)
		lost := &notLeaderError{leader: d.leaderAddr()}
		for id, s := range d.sessions {
			s.end(lost)
			delete(d.sessions, id)
		}
		clear(d.lastSeen)
		clear(d.told)
	}()
	var wg sync.WaitGroup
	wg.Go(func() { d.commitStatuses(ctx) })
	wg.Go(func() { d.expireHeartbeats(ctx, since) })
	wg.Go(func() { tm.router.run(ctx, d.store, d.wakeSessions) })
	wg.Wait()
}

// caller returns the calling node's identity and the leadership term the
// call is served in, or refers the node to the leader.
func (d *Dispatcher) caller(ctx context.Context) (ca.Identity, *term, error) {
	id, err := ca.IdentityFromContext(ctx)
	if err != nil {
		return ca.Identity{}, nil, err
	}
	d.mu.Lock()
	tm := d.term
	d.mu.Unlock()
	if tm == nil {
		return ca.Identity{}, nil, &notLeaderError{leader: d.leaderAddr()}
	}
	return id, tm, nil
}

// storeError explains a failed store update: a refusal because leadership
// was lost names the new leader.
func (d *Dispatcher) storeError(err error) error {
	if errdefs.Is(err, errdefs.KindUnavailable) {
		return &notLeaderError{leader: d.leaderAddr(), err: err}
	}
	return err
}

// currentSession checks that sessionID is the node's current session.
func (d *Dispatcher) currentSession(nodeID, sessionID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.sessions[nodeID]; s == nil || s.id != sessionID {
		return errdefs.NotFound("session %q of node %s is not current: open a new session", sessionID, nodeID)
	}
	return nil
}

// heartbeatPeriod reads the period from the cluster spec.
func heartbeatPeriod(tx store.ReadTx) time.Duration {
	if c := store.TheCluster(tx); c != nil && c.Spec.Dispatcher.HeartbeatPeriod > 0 {
		return c.Spec.Dispatcher.HeartbeatPeriod
	}
	return DefaultHeartbeatPeriod
}

func (d *Dispatcher) period() time.Duration {
	var p time.Duration
	d.store.View(func(tx store.ReadTx) { p = heartbeatPeriod(tx) })
	return p
}

// peerIP returns the caller's IP address, "" when unknown.
func peerIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return ""
	}
	return host
}
