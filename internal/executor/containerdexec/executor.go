// Package containerdexec runs swarm tasks as containerd containers, and
// shows them as dockerd shows its containers (docker ps, inspect, logs,
// exec, rm).
//
// Everything it knows about a container lives in containerd (the container,
// its labels, spec and snapshot, the task while the process lives) and in
// the container's directory under Config.Root (what Prepare decided, the
// start and exit record, the json-file log, hosts, hostname, resolv.conf);
// its secrets and configs are on a tmpfs under Config.ExecRoot.
// It keeps nothing else but exec records in memory, so a new Executor over
// the same containerd and root adopts what an earlier one left running.
//
// Output goes through a log driver that the containerd shim runs next to
// the container (containerd's "binary://" log URI): the driver, not the
// daemon, holds the other end of the container's stdout and stderr, so a
// container keeps logging, with stream and time of every line, while the
// daemon is down or restarting. The driver is this same executable, run
// with arguments LoggerMain recognizes.
package containerdexec

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/swarm"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/runtimes"
	"github.com/shoal-project/shoal/internal/shimgroup"
	"github.com/shoal-project/shoal/internal/template"
	"github.com/shoal-project/shoal/internal/volume"
)

// ImageStore gives the images containers are made from (images.Store).
type ImageStore interface {
	// Ensure returns the image ref names, pulled and unpacked into the
	// snapshotter when missing; errdefs.NotFound "No such image: REF" when
	// it cannot be had.
	Ensure(ctx context.Context, ref string) (client.Image, error)
	// Config returns what a container made from img runs.
	Config(ctx context.Context, img client.Image) (dockerspec.DockerOCIImageConfig, error)
}

// Config configures an Executor.
type Config struct {
	Client    *client.Client
	Namespace string     // containerd namespace of all containers, e.g. "shoal"
	Images    ImageStore // must unpack into Snapshotter
	// Snapshotter holds the containers' root filesystems; "overlayfs" when
	// empty.
	Snapshotter string
	// Network gives containers their network namespace. When nil, every
	// container gets a namespace of its own with only loopback.
	Network executor.Network
	// Attacher puts tasks on their swarm networks; nil runs them on the
	// node bridge alone.
	Attacher executor.Attacher
	// Remap is the daemon's user-namespace remapping (--userns-remap):
	// containers not asking for the host's user namespace run in one
	// mapped to its IDs. Nil for none.
	Remap *confine.Remap
	// Volumes are the node's volumes, which task mounts of type volume
	// use.
	Volumes *volume.Store
	// Runtimes are the daemon's OCI runtimes: plain containers name one
	// (HostConfig.Runtime, the default when empty), tasks get the default.
	// Runc alone when nil.
	Runtimes *runtimes.Set
	// ShimGroupSize is how many plain containers may share one containerd
	// shim (package shimgroup); 1 or less gives each its own, as dockerd
	// does.
	ShimGroupSize int
	// Root holds per-container files (Root/containers/ID) and exec FIFOs
	// (Root/fifo). Absolute.
	Root string
	// ExecRoot holds what must not outlive a reboot: each container's
	// secrets and configs, on a tmpfs at ExecRoot/secrets/ID. Absolute;
	// Root/run when empty (the tmpfs mounts vanish on a reboot anyway).
	ExecRoot string

	Hostname      string // the node's hostname; os.Hostname() when empty
	EngineVersion string
	EngineLabels  map[string]string
	// GenericResources are what the node advertises beyond CPU and memory
	// (dockerd's node-generic-resources), for services' --generic-resource
	// reservations.
	GenericResources []swarm.GenericResource

	// LogDriver is the executable a shim runs as the containers' log
	// driver; it must call LoggerMain first thing in main. This executable
	// when empty.
	LogDriver string
	// InitPath is the init binary mounted into containers whose spec asks
	// for one; docker-init, tini-static or tini on PATH when empty.
	InitPath string

	Logger *slog.Logger // may be nil

	// Events, when set, records what happens to containers, their volumes
	// and their networks (docker events).
	Events EventLogger
	// BridgeID is the ID the node's bridge is shown with as Docker's
	// "bridge" network, for network events.
	BridgeID string
}

// Executor runs tasks as containerd containers. It implements
// executor.Executor.
type Executor struct {
	cfg Config
	log *slog.Logger

	locks keyedMutex // per container ID: serializes reaping and removal

	groups *shimgroup.Pool // the shim groups of plain containers

	execMu sync.Mutex
	execs  map[string]*execRecord // guarded by execMu; by exec ID

	// node is this node's hostname and platform, which templates read.
	node *swarm.NodeDescription

	// bgCtx is the parent of the executor's own work (health monitors,
	// retries of what containerd must finish); it ends with Close.
	bgCtx    context.Context
	bgStop   context.CancelFunc
	healthWG sync.WaitGroup // the health monitors' goroutines
	healthMu sync.Mutex
	health   map[string]*healthMonitor // guarded by healthMu; by container ID

	removingMu sync.Mutex
	removing   map[string]bool // guarded by removingMu; containers gone from the API, being freed (RemoveContainer, resumeRemovals)
	removals   sync.WaitGroup  // the goroutines freeing them, and those settling aborted starts

	// removalStepped, when set, is called after each step of a removal
	// (remove's steps, by name) and stops the removal there when it returns an
	// error: tests stop one as a daemon killed at that step would.
	removalStepped func(step string) error
}

var _ executor.Executor = (*Executor)(nil)

// New returns an Executor over cfg.
func New(cfg Config) (*Executor, error) {
	if cfg.Client == nil || cfg.Images == nil || cfg.Volumes == nil || cfg.Namespace == "" {
		return nil, errdefs.Invalid("containerd executor needs a client, an image store, a volume store and a namespace")
	}
	if !filepath.IsAbs(cfg.Root) {
		return nil, errdefs.Invalid("containerd executor root %q is not an absolute path", cfg.Root)
	}
	if cfg.ExecRoot == "" {
		cfg.ExecRoot = filepath.Join(cfg.Root, "run")
	}
	if !filepath.IsAbs(cfg.ExecRoot) {
		return nil, errdefs.Invalid("containerd executor exec root %q is not an absolute path", cfg.ExecRoot)
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = "overlayfs"
	}
	if cfg.Runtimes == nil {
		cfg.Runtimes = runtimes.RuncOnly()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LogDriver == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this executable for the log driver: %w", err)
		}
		cfg.LogDriver = exe
	}
	if cfg.InitPath == "" {
		for _, name := range []string{"docker-init", "tini-static", "tini"} {
			if p, err := exec.LookPath(name); err == nil {
				cfg.InitPath = p
				break
			}
		}
	}
	for _, d := range []string{"containers", "fifo", "removals"} {
		if err := os.MkdirAll(filepath.Join(cfg.Root, d), 0o711); err != nil {
			return nil, fmt.Errorf("create executor root: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.ExecRoot, "secrets"), 0o700); err != nil {
		return nil, fmt.Errorf("create executor exec root: %w", err)
	}
	node, err := describeHost(cfg.Hostname)
	if err != nil {
		return nil, err
	}
	bgCtx, bgStop := context.WithCancel(context.Background())
	e := &Executor{
		cfg:      cfg,
		log:      cfg.Logger,
		node:     node,
		groups:   shimgroup.New(cfg.ShimGroupSize),
		execs:    make(map[string]*execRecord),
		bgCtx:    bgCtx,
		bgStop:   bgStop,
		health:   make(map[string]*healthMonitor),
		removing: make(map[string]bool),
	}
	if err := e.restoreVolumeReferences(); err != nil {
		bgStop()
		return nil, err
	}
	// After the volume references: a removal that resumes releases them.
	if err := e.resumeRemovals(); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.resumeAbortedStarts(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// describeHost returns the host's hostname (hostname, unless empty) and
// platform.
func describeHost(hostname string) (*swarm.NodeDescription, error) {
	if hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostname: %w", err)
		}
		hostname = h
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	return &swarm.NodeDescription{
		Hostname: hostname,
		Platform: swarm.Platform{Architecture: unix.ByteSliceToString(uts.Machine[:]), OS: runtime.GOOS},
	}, nil
}

// Describe reports the node as docker node inspect shows it.
func (e *Executor) Describe(ctx context.Context) (*swarm.NodeDescription, error) {
	host, err := describeHost(e.cfg.Hostname)
	if err != nil {
		return nil, err
	}
	mem, err := memTotal("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	return &swarm.NodeDescription{
		Hostname: host.Hostname,
		Platform: host.Platform,
		Resources: swarm.Resources{
			NanoCPUs:         int64(runtime.NumCPU()) * 1e9,
			MemoryBytes:      mem,
			GenericResources: slices.Clone(e.cfg.GenericResources),
		},
		Engine: swarm.EngineDescription{
			EngineVersion: e.cfg.EngineVersion,
			Labels:        maps.Clone(e.cfg.EngineLabels),
			Plugins: []swarm.PluginDescription{
				{Type: "Log", Name: "json-file"},
				{Type: "Network", Name: "bridge"},
				{Type: "Network", Name: "overlay"},
				{Type: "Volume", Name: "local"},
			},
		},
	}, nil
}

// memTotal reads MemTotal from a meminfo file, in bytes.
func memTotal(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemTotal:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse MemTotal in %s: %w", path, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in %s", path)
}

// Controller returns the controller of t's container, with the templates
// of its container spec expanded for t on this node; one that fails is an
// errdefs.Invalid error naming the field.
func (e *Executor) Controller(t *swarm.Task, deps executor.Dependencies) (executor.Controller, error) {
	if t.Spec.ContainerSpec == nil {
		return nil, errdefs.Invalid("task %s has no container spec", t.ID)
	}
	tc := template.NewContext(t, e.node)
	cs, err := template.ExpandContainerSpec(tc, t.Spec.ContainerSpec)
	if err != nil {
		return nil, errdefs.Invalid("%v", err)
	}
	task := *t
	task.Spec.ContainerSpec = cs
	return &controller{e: e, task: &task, deps: deps, id: ContainerID(t.ID), name: containerName(t), tmpl: tc}, nil
}

// ns returns ctx in the executor's containerd namespace.
func (e *Executor) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, e.cfg.Namespace)
}

// dir is the directory of the container id's files.
func (e *Executor) dir(id string) string {
	return filepath.Join(e.cfg.Root, "containers", id)
}

// logPath is the container's json-file log, named as Docker names it.
func (e *Executor) logPath(id string) string {
	return filepath.Join(e.dir(id), id+"-json.log")
}

// keyedMutex is a mutex per key, for keys that come and go.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex // guarded by mu
}

type refMutex struct {
	sync.Mutex
	refs int // guarded by keyedMutex.mu
}

// lock locks key's mutex and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*refMutex)
	}
	m := k.locks[key]
	if m == nil {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()

	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		m.refs--
		if m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
