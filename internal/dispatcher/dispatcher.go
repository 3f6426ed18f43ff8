package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// DefaultHeartbeatPeriod is Docker's, used when the cluster spec has none.
const DefaultHeartbeatPeriod = 5 * time.Second

// HeartbeatGrace is how many periods may pass without a heartbeat before a
// node is marked down.
const HeartbeatGrace = 3

// Clock is the dispatcher's time source.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config sets up a Dispatcher.
type Config struct {
	Store *store.Store
	// Leadership says whether this manager leads the raft group and, when
	// it does not, the leader's cluster address ("" when unknown). Only the
	// leader serves sessions, since only it can write the store; followers
	// refuse with codes.Unavailable and the leader's address (LeaderHint).
	// Nil means this manager is always the leader.
	Leadership func() (leader bool, leaderAddr string)
	// Clock is nil for the wall clock.
	Clock  Clock
	Logger *slog.Logger
}

// Dispatcher serves the shoal.Dispatcher service on a manager. Run must be
// running for status updates to be committed and for nodes whose
// heartbeats stop to be marked down.
type Dispatcher struct {
	store      *store.Store
	leadership func() (bool, string)
	clock      Clock
	log        *slog.Logger

	// statusQueue carries UpdateTaskStatus calls to Run's committer, which
	// writes those that wait together in one store update.
	statusQueue chan *statusRequest

	mu       sync.Mutex
	sessions map[string]*session  // by node ID; guarded by mu
	lastSeen map[string]time.Time // node ID → last heartbeat or session start; guarded by mu
}

// session is a node's current session.
type session struct {
	id     string
	nodeID string
	end    context.CancelCauseFunc
}

// New returns a dispatcher over cfg.Store.
func New(cfg Config) *Dispatcher {
	d := &Dispatcher{
		store:       cfg.Store,
		leadership:  cfg.Leadership,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		statusQueue: make(chan *statusRequest),
		sessions:    map[string]*session{},
		lastSeen:    map[string]time.Time{},
	}
	if d.leadership == nil {
		d.leadership = func() (bool, string) { return true, "" }
	}
	if d.clock == nil {
		d.clock = wallClock{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Register adds the service to a gRPC server (clusterconn.NewGRPCServer with
// Policy merged into its policy).
func (d *Dispatcher) Register(s grpc.ServiceRegistrar) {
	s.RegisterService(&ServiceDesc, d)
}

// Run commits status updates and marks down the nodes whose heartbeats
// stop, until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.commitStatuses(ctx) })
	g.Go(func() error { return d.expireHeartbeats(ctx) })
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// caller returns the calling node's identity, once this manager is known
// to be the leader.
func (d *Dispatcher) caller(ctx context.Context) (ca.Identity, error) {
	id, err := ca.IdentityFromContext(ctx)
	if err != nil {
		return ca.Identity{}, err
	}
	if leader, addr := d.leadership(); !leader {
		return ca.Identity{}, &notLeaderError{leader: addr}
	}
	return id, nil
}

// storeError explains a failed store update: a refusal because leadership
// was lost names the new leader.
func (d *Dispatcher) storeError(err error) error {
	if errdefs.Is(err, errdefs.KindUnavailable) {
		_, addr := d.leadership()
		return &notLeaderError{leader: addr, err: err}
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
