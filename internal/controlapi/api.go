// Package controlapi is the swarm's control API: it validates what users
// ask for (services, nodes, the cluster spec) and writes it to the store,
// and answers reads with Docker's lookup and filter rules. Errors carry
// the kind the API edge maps to an HTTP status and the message dockerd
// shows, so scripts written against Docker match them.
package controlapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// API validates and applies control requests against a store. Its
// methods are safe for concurrent use: every write is one store.Update
// that re-checks what it depends on inside the transaction.
type API struct {
	store *store.Store
	now   func() time.Time
	log   *slog.Logger
}

// Option configures an API.
type Option func(*API)

// WithClock sets the clock used for the times the API writes
// (UpdateStatus.StartedAt, JobStatus.LastExecution).
func WithClock(now func() time.Time) Option { return func(a *API) { a.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *API) { a.log = l } }

// New returns the control API over s.
func New(s *store.Store, opts ...Option) *API {
	a := &API{store: s, now: clock.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(a)
	}
	return a
}

// rpcError makes an error whose message is what dockerd shows for an
// error SwarmKit's control API returned: dockerd passes the gRPC status
// text through, and scripts match on it.
func rpcError(kind errdefs.Kind, code, format string, args ...any) error {
	return &errdefs.Error{Kind: kind, Msg: "rpc error: code = " + code + " desc = " + fmt.Sprintf(format, args...)}
}

func invalidArgument(format string, args ...any) error {
	return rpcError(errdefs.KindInvalid, "InvalidArgument", format, args...)
}

func failedPrecondition(format string, args ...any) error {
	return rpcError(errdefs.KindPrecondition, "FailedPrecondition", format, args...)
}

// errOutOfSequence refuses a write made from a stale read. DESIGN.md
// classes it a conflict (409); the text is SwarmKit's.
var errOutOfSequence = rpcError(errdefs.KindConflict, "Unknown", "update out of sequence")

// clone deep-copies a JSON-encodable value; stored objects are shared and
// specs from callers are not ours to change.
func clone[T any](v T) T {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("controlapi: clone %T: %v", v, err)) // API types always encode
	}
	var c T
	if err := json.Unmarshal(data, &c); err != nil {
		panic(fmt.Sprintf("controlapi: clone %T: %v", v, err))
	}
	return c
}

// sameJSON reports whether a and b encode the same; it is how "did the
// spec change" is decided, so nil and empty fields that encode alike
// count as equal.
func sameJSON(a, b any) bool {
	da, errA := json.Marshal(a)
	db, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(da) == string(db)
}

// lookup resolves a user's reference to one object the way dockerd does:
// the full ID, then the exact name, then a unique ID prefix.
func lookup[T store.Object](tx store.ReadTx, kind, ref string, byName func(store.ReadTx, string) []T) (T, error) {
	var zero T
	if ref == "" {
		return zero, errdefs.NotFound("%s %s not found", kind, ref)
	}
	if o := store.Get[T](tx, ref); o != zero {
		return o, nil
	}
	matches := byName(tx, ref)
	if len(matches) == 0 {
		matches = store.ByIDPrefix[T](tx, ref)
	}
	switch len(matches) {
	case 0:
		return zero, errdefs.NotFound("%s %s not found", kind, ref)
	case 1:
		return matches[0], nil
	default:
		return zero, errdefs.Invalid("%s %s is ambiguous (%d matches found)", kind, ref, len(matches))
	}
}

// servicesNamed finds services by name, ignoring case as SwarmKit's name
// index does.
func servicesNamed(tx store.ReadTx, name string) []*store.Service {
	var out []*store.Service
	for _, s := range store.All[*store.Service](tx) {
		if strings.EqualFold(s.Spec.Name, name) {
			out = append(out, s)
		}
	}
	return out
}

func nodesNamed(tx store.ReadTx, name string) []*store.Node {
	return store.ByName[*store.Node](tx, name)
}

func tasksNamed(tx store.ReadTx, name string) []*store.Task {
	var out []*store.Task
	for _, t := range store.All[*store.Task](tx) {
		if taskName(tx, t) == name {
			out = append(out, t)
		}
	}
	return out
}

func findService(tx store.ReadTx, ref string) (*store.Service, error) {
	return lookup(tx, "service", ref, servicesNamed)
}

func findNode(tx store.ReadTx, ref string) (*store.Node, error) {
	return lookup(tx, "node", ref, nodesNamed)
}

func findTask(tx store.ReadTx, ref string) (*store.Task, error) {
	return lookup(tx, "task", ref, tasksNamed)
}

// Index returns the raft index of the state the API reads now: what a
// read answers is a function of the query and this index, so an answer
// computed at an index may be given again while the index stays (the
// store makes a batch visible before it moves the index past it).
func (a *API) Index() uint64 { return a.store.Index() }
