// Package daemon is `shoal daemon`: it brings up a node's local engine,
// its swarm membership and the Docker Engine API, and takes them down on
// SIGTERM without stopping the containers that run tasks.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/internal/apitls"
	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/engineid"
	"github.com/shoal-project/shoal/internal/events"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/network/bridge"
	"github.com/shoal-project/shoal/internal/node"
	"github.com/shoal-project/shoal/internal/runtimes"
	"github.com/shoal-project/shoal/internal/sysinfo"
)

// Version is Shoal's version, shown by /version and node inspect.
var Version = "0.1.0-dev"

// Options are the daemon's flags.
type Options struct {
	DataRoot           string
	ExecRoot           string
	Hosts              []string
	Containerd         string
	Pidfile            string
	LogLevel           string
	InsecureRegistries []string
	Labels             []string
	GenericResources   []string
	BridgeName         string
	BridgeCIDR         string
	Hostname           string
	UIAddr             string // serve the web UI here when set
	TLS                apitls.Options
	// MetricsAddr serves Prometheus metrics at /metrics when set; an
	// address reachable from the network takes the API's TLS flags.
	MetricsAddr string
	// Pprof serves Go's profiles at /debug/pprof/ on the API's hosts.
	Pprof bool
	// UsernsRemap runs containers in user namespaces mapped to this
	// user's subordinate IDs: default, USER or USER:GROUP.
	UsernsRemap string
	// DefaultRuntime is the OCI runtime of containers that name none, and
	// of every swarm task: runc, crun or one of AddRuntimes.
	DefaultRuntime string
	// AddRuntimes are further runtimes, NAME=PATH.
	AddRuntimes []string
	// ShimGroupSize is how many plain containers may share one containerd
	// shim; 1 gives each its own, as dockerd does.
	ShimGroupSize int
}

// defaultShimGroupSize is --shim-group-size's default: a containerd runc
// shim serializes the creates and starts of its containers, so a burst
// keeps several shims (docs/BENCHMARKS.md, shim groups).
const defaultShimGroupSize = 8

// NewCommand returns the `daemon` command.
func NewCommand() *cobra.Command {
	var o Options
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run a Shoal node: the Docker Engine API, the local engine and swarm membership",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataRoot, "data-root", "/var/lib/shoal", "directory of persistent state (raft log, certificates, images, containers)")
	f.StringVar(&o.ExecRoot, "exec-root", "/run/shoal", "directory of runtime state (sockets, network namespaces); keep it short")
	f.StringArrayVarP(&o.Hosts, "host", "H", nil, "address to serve the Docker API on (unix:///path or tcp://host:port; tcp needs --tlsverify or --insecure-tcp); default unix://EXEC-ROOT/shoal.sock")
	f.StringVar(&o.Containerd, "containerd", "", "address of a containerd to use; a private one is started when empty")
	f.StringVar(&o.Pidfile, "pidfile", "", "file to write the daemon's PID to")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringArrayVar(&o.InsecureRegistries, "insecure-registry", nil, "registry (host:port) to reach over plain HTTP")
	f.StringArrayVar(&o.Labels, "label", nil, "engine label key=value (placement constraints engine.labels.KEY)")
	f.StringArrayVar(&o.GenericResources, "node-generic-resource", nil, "resource the node advertises, kind=count (gpu=2) or kind=name (gpu=GPU-uuid, repeated for each), for services' --generic-resource")
	f.StringVar(&o.Hostname, "hostname", "", "the node's hostname as the cluster shows it (default: the system's)")
	f.StringVar(&o.BridgeName, "bridge-name", bridge.DefaultName, "name of the default bridge tasks attach to")
	f.StringVar(&o.BridgeCIDR, "bridge-cidr", bridge.DefaultSubnet.String(), "subnet of the default bridge")
	f.StringVar(&o.UIAddr, "ui-addr", "", "address to serve the web UI on (127.0.0.1:8080, unix:///path); on TCP it asks for a token logged at start; off when empty")
	o.TLS.AddFlags(f)
	f.StringVar(&o.UsernsRemap, "userns-remap", "", "run containers in user namespaces mapped to the subordinate IDs (/etc/subuid, /etc/subgid) of a user and group: default (the user dockremap, made when missing), USER or USER:GROUP")
	f.StringVar(&o.DefaultRuntime, "default-runtime", runtimes.Runc, "OCI runtime of containers that name none (docker run --runtime) and of swarm tasks: runc, crun (when on PATH) or a name given to --add-runtime")
	f.IntVar(&o.ShimGroupSize, "shim-group-size", defaultShimGroupSize, "plain containers started together share one containerd shim, up to this many a shim (a new shim when full; a shim that dies takes its containers with it); 1 gives every container its own, as dockerd does")
	f.StringArrayVar(&o.AddRuntimes, "add-runtime", nil, "another OCI runtime containers may name, NAME=PATH; it must take runc's command line, as crun does")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "", "address to serve Prometheus metrics on at /metrics (127.0.0.1:9323, unix:///path; another TCP address needs --tlsverify or --insecure-tcp, as -H does); off when empty")
	f.BoolVar(&o.Pprof, "pprof", false, "serve Go's profiles at /debug/pprof/ on the API's hosts (for measuring the daemon; off by default)")
	return cmd
}

// Run runs the daemon until ctx ends.
func Run(ctx context.Context, o Options) error {
	log, err := newLogger(o.LogLevel)
	if err != nil {
		return err
	}
	labels, err := parseLabels(o.Labels)
	if err != nil {
		return err
	}
	generic, err := parseGenericResources(o.GenericResources)
	if err != nil {
		return err
	}
	subnet, err := netip.ParsePrefix(o.BridgeCIDR)
	if err != nil {
		return fmt.Errorf("--bridge-cidr %q: %w", o.BridgeCIDR, err)
	}
	if o.ShimGroupSize < 1 {
		return fmt.Errorf("--shim-group-size %d: want 1 or more", o.ShimGroupSize)
	}
	var uiAddr apitls.Addr
	if o.UIAddr != "" {
		if uiAddr, err = apitls.ParseAddr("--ui-addr", o.UIAddr); err != nil {
			return err
		}
	}
	var metricsAddr apitls.Addr
	if o.MetricsAddr != "" {
		if metricsAddr, err = apitls.ParseAddr("--metrics-addr", o.MetricsAddr); err != nil {
			return err
		}
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"unix://" + filepath.Join(o.ExecRoot, "shoal.sock")}
	}
	// The hosts and their TLS are checked before anything starts: a
	// refused -H tcp:// stops the daemon at once.
	tcp, err := apitls.NewListeners(o.TLS, log.With("component", "api"))
	if err != nil {
		return err
	}
	hosts, err := parseHosts(o.Hosts, tcp, o.TLS.TLS || o.TLS.Verify)
	if err != nil {
		return err
	}
	if metricsAddr.Open() {
		if err := tcp.Allowed(metricsAddr.Address, metrics.What); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	var remap *confine.Remap
	if o.UsernsRemap != "" {
		if remap, err = confine.LoadRemap(ctx, o.UsernsRemap); err != nil {
			return err
		}
		log.Info("containers run in remapped user namespaces", "user", remap.User, "group", remap.Group, "uid", remap.UIDs[0].HostID, "gid", remap.GIDs[0].HostID)
	}
	rts, err := runtimes.New(o.DefaultRuntime, o.AddRuntimes, exec.LookPath)
	if err != nil {
		return err
	}
	for _, d := range []string{o.DataRoot, o.ExecRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	if remap != nil && o.Containerd == "" {
		// The private containerd's state, where the containers' root
		// filesystems are mounted, is under the exec root.
		if err := remap.Reachable(o.ExecRoot); err != nil {
			return err
		}
	}
	engineID, err := engineid.LoadOrCreate(o.DataRoot)
	if err != nil {
		return err
	}
	if o.Pidfile != "" {
		if err := os.WriteFile(o.Pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("write pidfile: %w", err)
		}
		defer os.Remove(o.Pidfile)
	}

	bus, err := events.New(events.Config{
		Path:      filepath.Join(o.DataRoot, "events", "history.jsonl"),
		Logger:    log.With("component", "events"),
		Published: metrics.EventsTotal.Inc,
	})
	if err != nil {
		return err
	}
	defer bus.Close()
	eng, err := engine.Start(ctx, engine.Config{
		DataRoot:           o.DataRoot,
		ExecRoot:           o.ExecRoot,
		Containerd:         o.Containerd,
		InsecureRegistries: o.InsecureRegistries,
		BridgeName:         o.BridgeName,
		BridgeSubnet:       subnet,
		Hostname:           o.Hostname,
		EngineVersion:      Version,
		Labels:             labels,
		GenericResources:   generic,
		Logger:             log,
		Events:             bus,
		Remap:              remap,
		Runtimes:           rts,
		ShimGroupSize:      o.ShimGroupSize,
	})
	if err != nil {
		return err
	}
	logHost(log)
	engineCtx, stopEngine := context.WithCancel(context.Background())
	engineDone := make(chan struct{})
	go func() { eng.Run(engineCtx); close(engineDone) }()
	defer func() {
		stopEngine()
		<-engineDone
		closeCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := eng.Close(closeCtx); err != nil {
			log.Warn("stop containerd", "err", err)
		}
	}()

	nd := node.New(node.Config{DataRoot: o.DataRoot, Engine: eng, Logger: log, Events: bus})
	// The API handler is given to the node before it resumes its
	// membership: a restarted manager answers writes its followers forward
	// with it as soon as its cluster port is up.
	handler := newAPI(eng, nd, bus, o, engineID, labels, log)
	if o.Pprof {
		handler = withPprof(handler)
	}
	nodeCtx, stopNode := context.WithCancel(context.Background())
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- nd.Run(nodeCtx) }()
	defer func() {
		stopNode()
		if err := <-nodeDone; err != nil {
			log.Error("swarm membership", "err", err)
		}
	}()

	if o.UIAddr != "" {
		uiCtx, stopUI := context.WithCancel(context.Background())
		defer stopUI()
		if err := serveUI(uiCtx, uiAddr, handler, o.TLS, log.With("component", "ui")); err != nil {
			return err
		}
	}
	servers, err := serve(hosts, tcp, handler, log)
	if err != nil {
		return err
	}
	if o.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(metricsAddr, tcp, o.MetricsAddr, nd, eng, bus, engineID, log)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return err
		}
		defer stopMetrics()
	}
	log.Info("shoal daemon ready", "version", Version, "hosts", strings.Join(o.Hosts, ","), "data-root", o.DataRoot)
	select {
	case <-ctx.Done():
	case err := <-nodeDone:
		nodeDone <- err
	}
	log.Info("shoal daemon stopping")
	// Event streams never end by themselves: end them, so that the
	// servers' shutdown does not wait for them.
	bus.Disconnect()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(shutdownCtx)
	}
	return nil
}

// logHost logs what the host offers containers and, as dockerd does at
// start, what it lacks. After the engine's start, which turns IPv4
// forwarding on.
func logHost(log *slog.Logger) {
	host := sysinfo.Read(os.DirFS("/"))
	log.Info("host cgroups", "cgroup.version", host.Cgroups.Version, "cgroup.controllers", strings.Join(host.Cgroups.Controllers, ","))
	for _, w := range host.Warnings() {
		log.Warn(strings.TrimPrefix(w, "WARNING: "))
	}
}

// host is one address the API is served on.
type host struct {
	network string // "unix" or "tcp"
	addr    string // a path or host:port
}

func (h host) String() string { return h.network + "://" + h.addr }

// parseHosts reads -H values as dockerd does: unix:///path or
// tcp://host[:port], the port 2376 with TLS and 2375 without when left
// out. A TCP host that the TLS options do not allow is refused.
func parseHosts(values []string, tcp *apitls.Listeners, withTLS bool) ([]host, error) {
	var hosts []host
	for _, v := range values {
		u, err := url.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("--host %q: %w", v, err)
		}
		switch u.Scheme {
		case "unix":
			if u.Path == "" {
				return nil, fmt.Errorf("--host %q: want unix:///path/to/socket", v)
			}
			hosts = append(hosts, host{network: "unix", addr: u.Path})
		case "tcp":
			if u.Path != "" && u.Path != "/" || u.Host == "" {
				return nil, fmt.Errorf("--host %q: want tcp://host:port", v)
			}
			addr := u.Host
			if u.Port() == "" {
				port := "2375"
				if withTLS {
					port = "2376"
				}
				addr = net.JoinHostPort(u.Hostname(), port)
			}
			if err := tcp.Allowed(addr, "the Docker API"); err != nil {
				return nil, err
			}
			hosts = append(hosts, host{network: "tcp", addr: addr})
		default:
			return nil, fmt.Errorf("--host %q: scheme must be unix:// or tcp://", v)
		}
	}
	return hosts, nil
}

// serve listens on every host and serves the API on each.
func serve(hosts []host, tcp *apitls.Listeners, h http.Handler, log *slog.Logger) ([]*http.Server, error) {
	var servers []*http.Server
	for _, host := range hosts {
		l, err := listen(host, tcp)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return nil, fmt.Errorf("--host %s: %w", host, err)
		}
		s := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			// Refused TLS handshakes (no or a wrong client certificate)
			// are the client's to explain; the daemon notes them at debug.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("API server", "host", host.String(), "err", err)
			}
		}()
	}
	return servers, nil
}

func listen(h host, tcp *apitls.Listeners) (net.Listener, error) {
	if h.network == "tcp" {
		return tcp.Listen(h.addr, "the Docker API")
	}
	return apitls.ListenUnix(h.addr)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func parseLabels(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// parseGenericResources reads --node-generic-resource values as dockerd
// does: a kind given once with a number is a count (gpu=2); a kind given
// with names, once or more, is a set of named resources
// (gpu=GPU-0a1b, gpu=GPU-2c3d). A kind cannot be both.
func parseGenericResources(kvs []string) ([]swarm.GenericResource, error) {
	var kinds []string
	values := map[string][]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--node-generic-resource %q: want kind=count or kind=name", kv)
		}
		if _, seen := values[k]; !seen {
			kinds = append(kinds, k)
		}
		values[k] = append(values[k], v)
	}
	var out []swarm.GenericResource
	for _, k := range kinds {
		vs := values[k]
		counts := 0
		for _, v := range vs {
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				counts++
			}
		}
		switch {
		case counts == 0:
			for _, v := range vs {
				out = append(out, swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: k, Value: v}})
			}
		case counts == 1 && len(vs) == 1:
			n, _ := strconv.ParseInt(vs[0], 10, 64)
			if n < 0 {
				return nil, fmt.Errorf("--node-generic-resource %s=%d: a count cannot be negative", k, n)
			}
			out = append(out, swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: k, Value: n}})
		default:
			return nil, fmt.Errorf("--node-generic-resource %s: give either one count or names, not %s", k, strings.Join(vs, ", "))
		}
	}
	return out, nil
}
