// Package engine is a node's local container engine: containerd (a private
// one unless an address is given), the image store, the volumes, the
// default bridge network, the executor that runs task containers on them,
// and the plain containers the Docker API makes (Containers). It is what
// a node has whether or not it is in a swarm.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/build"
	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/container"
	"github.com/shoal-project/shoal/internal/events"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/network/bridge"
	"github.com/shoal-project/shoal/internal/network/dataplane"
	"github.com/shoal-project/shoal/internal/network/resolver"
	"github.com/shoal-project/shoal/internal/privatecontainerd"
	"github.com/shoal-project/shoal/internal/runtimes"
	"github.com/shoal-project/shoal/internal/volume"
)

// Namespace is the containerd namespace of everything Shoal makes.
const Namespace = "shoal"

// Config configures a node's engine.
type Config struct {
	DataRoot string // persistent state: DataRoot/containerd, /images, /volumes, /executor, /network, /containers
	ExecRoot string // runtime state: sockets, namespaces (a short path: unix sockets are < 108 bytes)
	// Containerd is the address of a containerd to use; empty starts a
	// private one under DataRoot.
	Containerd         string
	InsecureRegistries []string
	BridgeName         string       // default bridge.DefaultName
	BridgeSubnet       netip.Prefix // default bridge.DefaultSubnet
	Hostname           string       // the node's hostname as the cluster sees it; the OS's when empty
	EngineVersion      string
	Labels             map[string]string // engine labels (constraints engine.labels.*)
	// GenericResources are the node's advertised generic resources
	// (--node-generic-resource), reserved by services' --generic-resource.
	GenericResources []swarm.GenericResource
	Logger           *slog.Logger
	// Events, when set, records what happens to containers, images,
	// volumes and networks (docker events).
	Events *events.Bus
	// Remap is the user-namespace remapping of containers
	// (--userns-remap); nil for none.
	Remap *confine.Remap
	// Runtimes are the OCI runtimes containers may run with
	// (--default-runtime, --add-runtime); runc alone when nil.
	Runtimes *runtimes.Set
	// ShimGroupSize is how many plain containers may share one containerd
	// shim (--shim-group-size); 1 or less gives each its own.
	ShimGroupSize int
}

// Engine is the running local engine.
type Engine struct {
	Client   *client.Client
	Images   *images.Store
	Volumes  *volume.Store
	Network  *bridge.Bridge
	Executor *containerdexec.Executor
	// Dataplane puts swarm tasks on their overlay networks.
	Dataplane *dataplane.Dataplane
	// Containers are the node's containers as the Docker API serves them,
	// plain and tasks'.
	Containers *Containers
	// Builder builds images from Dockerfiles (docker build).
	Builder *build.Builder

	proc       *privatecontainerd.Process // nil when using an external containerd
	predefined predefinedNetworks
	log        *slog.Logger
}

// Start brings the engine up: containerd, the bridge and the executor.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: cfg.Logger}
	addr := cfg.Containerd
	if addr == "" {
		p, err := privatecontainerd.Start(ctx, privatecontainerd.Config{
			Root:   filepath.Join(cfg.DataRoot, "containerd"),
			State:  filepath.Join(cfg.ExecRoot, "containerd"),
			Logger: cfg.Logger.With("component", "containerd"),
		})
		if err != nil {
			return nil, fmt.Errorf("start containerd: %w", err)
		}
		e.proc = p
		addr = p.Address()
	}
	c, err := client.New(addr, client.WithDefaultNamespace(Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", addr, err)
	}
	e.Client = c
	imgOpts := images.Options{
		Namespace:          Namespace,
		InsecureRegistries: cfg.InsecureRegistries,
		Logger:             cfg.Logger.With("component", "images"),
	}
	if cfg.Events != nil {
		imgOpts.Events = cfg.Events
	}
	if e.proc != nil {
		imgOpts.ContentRoot = e.proc.ContentRoot()
	}
	e.Images = images.New(c, imgOpts)
	volCfg := volume.Config{Root: filepath.Join(cfg.DataRoot, "volumes"), Logger: cfg.Logger.With("component", "volumes")}
	if cfg.Events != nil {
		volCfg.Events = cfg.Events
	}
	if cfg.Remap != nil {
		volCfg.IDMap = cfg.Remap
	}
	e.Volumes, err = volume.Open(volCfg)
	if err != nil {
		return nil, err
	}
	e.Network, err = bridge.New(bridge.Config{
		Name:     cfg.BridgeName,
		Subnet:   cfg.BridgeSubnet,
		StateDir: filepath.Join(cfg.DataRoot, "network"),
		NetnsDir: filepath.Join(cfg.ExecRoot, "netns"),
		Logger:   cfg.Logger.With("component", "bridge"),
	})
	if err != nil {
		return nil, err
	}
	if e.predefined, err = loadPredefined(filepath.Join(cfg.DataRoot, "network", "predefined.json")); err != nil {
		return nil, fmt.Errorf("predefined networks: %w", err)
	}
	if err := e.Network.Setup(ctx); err != nil {
		return nil, fmt.Errorf("set up the default bridge: %w", err)
	}
	dns := resolver.New(resolver.Config{Logger: cfg.Logger.With("component", "resolver")})
	e.Dataplane, err = dataplane.New(dataplane.Config{
		NetnsPath:   e.Network.NetnsPath,
		ContainerID: containerdexec.ContainerID,
		Resolver:    dns,
		KeyPath:     filepath.Join(cfg.DataRoot, "network", "tunnel.key"),
		NodeBridge:  e.Network.Name(),
		Logger:      cfg.Logger.With("component", "dataplane"),
	})
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	execCfg := containerdexec.Config{
		Client:           c,
		Namespace:        Namespace,
		Images:           e.Images,
		Volumes:          e.Volumes,
		Network:          e.Network,
		Attacher:         e.Dataplane,
		Root:             filepath.Join(cfg.DataRoot, "executor"),
		ExecRoot:         filepath.Join(cfg.ExecRoot, "executor"),
		Hostname:         cfg.Hostname,
		EngineVersion:    cfg.EngineVersion,
		EngineLabels:     cfg.Labels,
		GenericResources: cfg.GenericResources,
		Logger:           cfg.Logger.With("component", "executor"),
		BridgeID:         e.predefined.IDs["bridge"],
		Remap:            cfg.Remap,
		Runtimes:         cfg.Runtimes,
		ShimGroupSize:    cfg.ShimGroupSize,
	}
	if cfg.Events != nil {
		execCfg.Events = cfg.Events
	}
	e.Executor, err = containerdexec.New(execCfg)
	if err != nil {
		return nil, err
	}
	e.Builder, err = build.New(build.Config{
		Client:      c,
		Namespace:   Namespace,
		Snapshotter: "overlayfs",
		Images:      e.Images,
		Root:        filepath.Join(cfg.DataRoot, "build"),
		Logger:      cfg.Logger.With("component", "build"),
		Remap:       cfg.Remap,
	})
	if err != nil {
		return nil, err
	}
	store, err := container.Open(filepath.Join(cfg.DataRoot, "containers"), cfg.Logger.With("component", "containers"))
	if err != nil {
		return nil, err
	}
	e.Containers = newContainers(e.Executor, e.Images, store, e.Dataplane, cfg.Logger.With("component", "containers"))
	e.Containers.noneID = e.predefined.IDs["none"]
	if e.Containers.nets, err = openLocalNets(ctx, filepath.Join(cfg.DataRoot, "network", "local"), e.Network, dns, e.Dataplane, store, e.Executor.NodeEndpoint, cfg.Logger); err != nil {
		return nil, fmt.Errorf("local networks: %w", err)
	}
	if e.Containers.swarm, err = openSwarmNets(filepath.Join(cfg.DataRoot, "network", "attachments.json"), e.Dataplane, e.Network.NetnsPath, dns, cfg.Logger); err != nil {
		return nil, fmt.Errorf("swarm networks of containers: %w", err)
	}
	e.Containers.nets.swarmNets = e.Containers.swarm.resolverNets
	if err := e.Containers.restore(ctx); err != nil {
		return nil, fmt.Errorf("restore containers: %w", err)
	}
	if err := e.Containers.swarm.restore(ctx, plainHosts(store), e.Containers.localResolverNets); err != nil {
		e.log.Warn("plug containers into their attachable networks again", "err", err)
	}
	return e, nil
}

// Run supervises the private containerd until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	if e.proc != nil {
		e.proc.Run(ctx)
	}
}

// Close disconnects from containerd and stops a private one. Containers
// keep running: their shims do not depend on containerd.
func (e *Engine) Close(ctx context.Context) error {
	e.Containers.Close()
	e.Dataplane.Close()
	e.Executor.Close()
	e.Client.Close()
	if e.proc != nil {
		return e.proc.Stop(ctx)
	}
	return nil
}
