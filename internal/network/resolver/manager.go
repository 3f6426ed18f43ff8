package resolver

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/view"
)

// maxSharedForwards is how many queries all the containers of the node may
// have forwarded at once.
const maxSharedForwards = 1024

// Config configures a Manager.
type Config struct {
	// Logger may be nil: nothing is logged.
	Logger *slog.Logger
	// ResolvConfPath is the daemon's resolv.conf, whose nameservers the
	// servers forward to: /etc/resolv.conf when empty. It is read at
	// each Start, as Docker reads it when a container starts.
	ResolvConfPath string
	// Upstreams, when not nil, are the nameservers to forward to instead
	// of those of ResolvConfPath (tests run a fake one on loopback).
	Upstreams []netip.AddrPort
	// ForwardTimeout bounds the forwarding of one query, over every
	// upstream tried: 4 s when zero, Docker's timeout per upstream and
	// within the 5 s a C library client waits before asking again.
	ForwardTimeout time.Duration
}

// Manager runs the DNS servers of a node's containers and keeps their
// records in step with the node's network view.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	shared chan struct{}

	// startMu serialises Start, Stop and Close, which open and close
	// sockets outside mu.
	startMu sync.Mutex

	mu sync.Mutex
	// servers are the running servers by container ID; guarded by mu.
	servers map[string]*managed
	// tables are the names of each network of the last view and of the
	// node's local networks, by network ID; guarded by mu.
	tables map[string]*table
	// swarm are the networks of the last view, local the node's local
	// networks (SetLocal); guarded by mu.
	swarm, local []view.Network
	closed       bool // guarded by mu
}

// managed is a server and what the manager knows of its container.
type managed struct {
	*server
	nsPath     string
	networkIDs []string // guarded by Manager.mu
}

// New returns a Manager with no servers.
func New(cfg Config) *Manager {
	if cfg.ResolvConfPath == "" {
		cfg.ResolvConfPath = "/etc/resolv.conf"
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 4 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		cfg:     cfg,
		log:     log,
		shared:  make(chan struct{}, maxSharedForwards),
		servers: map[string]*managed{},
		tables:  map[string]*table{},
	}
}

// StartOption is an option of Start.
type StartOption func(*startOptions)

type startOptions struct {
	dns *swarm.DNSConfig
}

// WithDNSConfig gives the service's DNS config (the task spec's
// DNSConfig): its nameservers are where the container's queries go
// instead of the node's, and its options say whether ndots is set.
func WithDNSConfig(dns *swarm.DNSConfig) StartOption {
	return func(o *startOptions) { o.dns = dns }
}

// Start runs the DNS server of a container whose network namespace is
// mounted at nsPath and which is attached to networkIDs (in the order of
// its interfaces: a name on two of them answers from the first). Calling
// it again for a running server changes its networks and options and
// keeps its sockets, so a restarted daemon calls it for every running
// container; a namespace that is not the one served before gets a new
// server.
func (m *Manager) Start(ctx context.Context, containerID, nsPath string, networkIDs []string, opts ...StartOption) error {
	if containerID == "" {
		return errdefs.Invalid("resolver: the container ID is empty")
	}
	if nsPath == "" {
		return errdefs.Invalid("resolver: the network namespace path of container %s is empty", containerID)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	host, err := os.ReadFile(m.cfg.ResolvConfPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("resolver: read the node's resolv.conf; names outside the swarm will not resolve", "path", m.cfg.ResolvConfPath, "err", err)
	}
	fwd := state{
		ndotsSet:  containerConf(host, o.dns).ndotsSet(),
		upstreams: upstreams(host, o.dns, m.cfg.Upstreams),
	}
	networkIDs = slices.Clone(networkIDs)

	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return errdefs.NotFound("resolver: network namespace %s of container %s: %v", nsPath, containerID, err)
	}

	m.startMu.Lock()
	defer m.startMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ns.Close()
		return errdefs.Unavailable("resolver: the node's DNS servers are shut down")
	}
	old := m.servers[containerID]
	if old != nil && old.nsPath == nsPath && old.ns.Equal(ns) {
		old.networkIDs = networkIDs
		fwd.rec = newRecords(m.tables, networkIDs)
		old.state.Store(&fwd)
		m.mu.Unlock()
		ns.Close()
		return nil
	}
	delete(m.servers, containerID)
	m.mu.Unlock()
	if old != nil {
		old.close()
	}

	udp, tcp, err := listen(ns)
	if err != nil {
		ns.Close()
		return errdefs.Unavailable("resolver: container %s: %v", containerID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fwd.rec = newRecords(m.tables, networkIDs)
	log := m.log.With("container.id", containerID)
	m.servers[containerID] = &managed{
		server:     newServer(log, ns, udp, tcp, m.shared, m.cfg.ForwardTimeout, &fwd),
		nsPath:     nsPath,
		networkIDs: networkIDs,
	}
	log.Debug("resolver: started", "netns", nsPath, "upstreams", len(fwd.upstreams))
	return nil
}

// Stop ends the DNS server of a container and closes its sockets; a
// container without one is no error.
func (m *Manager) Stop(containerID string) {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	m.mu.Lock()
	s := m.servers[containerID]
	delete(m.servers, containerID)
	m.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// Close ends every server; Start fails afterwards.
func (m *Manager) Close() {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	m.mu.Lock()
	m.closed = true
	servers := m.servers
	m.servers = map[string]*managed{}
	m.mu.Unlock()
	for _, s := range servers {
		s.close()
	}
}

// Update gives every server the names of view v (nil for none), each
// server's records swapped whole, so a query sees the old view or the new
// one. Only networks whose names changed are rebuilt, and servers whose
// networks did not change keep their records. The manager keeps parts of
// v: the caller must not change it afterwards.
func (m *Manager) Update(v *view.Node) {
	var nets []view.Network
	if v != nil {
		nets = v.Networks
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.swarm = nets
	m.rebuild()
}

// SetLocal gives every server the names of the node's local networks
// (user-defined bridges), beside the swarm's, as Update does for a view:
// a container on one of them resolves the names of the containers on it.
// The manager keeps nets: the caller must not change it afterwards.
func (m *Manager) SetLocal(nets []view.Network) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.local = nets
	m.rebuild()
}

// rebuild makes the tables of the swarm's and the local networks and
// swaps the records of every server whose tables changed. The caller
// holds mu.
func (m *Manager) rebuild() {
	nets := append(slices.Clone(m.swarm), m.local...)
	tables := make(map[string]*table, len(nets))
	changed := len(nets) != len(m.tables)
	for _, n := range nets {
		if old := m.tables[n.ID]; old != nil && sameNames(old.src, n) {
			tables[n.ID] = old
			continue
		}
		tables[n.ID] = newTable(n)
		changed = true
	}
	if !changed {
		return
	}
	m.tables = tables
	for _, s := range m.servers {
		rec := newRecords(tables, s.networkIDs)
		old := s.state.Load()
		if rec.same(old.rec) {
			continue
		}
		st := *old
		st.rec = rec
		s.state.Store(&st)
	}
}
