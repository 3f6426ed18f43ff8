package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	units "github.com/docker/go-units"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/container"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/images"
)

// Containers are the node's containers as the Docker API serves them: the
// plain containers it makes and runs itself (kept and decided by
// internal/container, run by the executor) beside the swarm's task
// containers, which it shows, execs into and removes, but leaves to the
// agent otherwise. A task container carries com.docker.swarm.* labels; a
// plain one is in the store.
type Containers struct {
	exec   *containerdexec.Executor
	images *images.Store
	store  *container.Store
	ports  ports
	// noneID is the ID of network none, for the endpoint inspect shows.
	noneID string
	// nets are the node's user-defined local networks (localnets.go).
	nets *localNets
	// swarm are the containers' attachable overlay networks
	// (swarmnets.go).
	swarm *swarmNets
	ncpu  int
	log   *slog.Logger

	// ctx is the monitors' and the restart timers'; it ends with Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	live map[string]*live // guarded by mu; by ID, one per plain container
}

// live is what the daemon holds about a plain container while it exists.
type live struct {
	stdio *stdio

	// mu serializes the container's lifecycle: start, the handling of an
	// exit, removal; never held while waiting for the process.
	mu sync.Mutex
	// run is the process's current run; nil when it does not run.
	run   *containerdexec.Run
	runIO *runIO
	// restart is the pending restart of the restart policy; nil when none.
	restart   *time.Timer
	lastDelay time.Duration // the delay before the current run; 0 after a manual start
	removed   bool
	// exited is closed when the current or next run ends, then replaced;
	// gone is closed when the container is removed.
	exited   chan struct{}
	gone     chan struct{}
	lastExit int
}

func newContainers(exec *containerdexec.Executor, imgs *images.Store, store *container.Store, p ports, log *slog.Logger) *Containers {
	ctx, cancel := context.WithCancel(context.Background())
	return &Containers{
		exec: exec, images: imgs, store: store, ports: p, ncpu: runtime.NumCPU(), log: log,
		ctx: ctx, cancel: cancel, live: map[string]*live{},
	}
}

func (c *Containers) addLive(ctr *container.Container) *live {
	// Validated at create: a container older than rotation has options
	// that were never checked, and is then not rotated.
	rot, _ := container.LogRotation(&ctr.HostConfig)
	l := &live{
		stdio:  newStdio(c.exec.LogPath(ctr.ID), rot, ctr.Config.Tty, ctr.Config.OpenStdin),
		exited: make(chan struct{}),
		gone:   make(chan struct{}),
	}
	c.mu.Lock()
	c.live[ctr.ID] = l
	c.mu.Unlock()
	return l
}

func (c *Containers) liveOf(id string) *live {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[id]
}

// resolve finds the container idOrName means, plain or a task's; live is
// nil for a task's.
func (c *Containers) resolve(ctx context.Context, idOrName string) (container.Ref, *live, error) {
	// A full ID comes first in Docker's order, and a plain container's
	// is known without asking containerd for every container (docker
	// run names the container by the ID create gave it, three times).
	if l := c.liveOf(idOrName); l != nil {
		if ctr, ok := c.store.Get(idOrName); ok {
			return container.Ref{ID: ctr.ID, Name: ctr.Name}, l, nil
		}
	}
	names, err := c.exec.Names(ctx)
	if err != nil {
		return container.Ref{}, nil, err
	}
	refs := make([]container.Ref, 0, len(names))
	for id, name := range names {
		refs = append(refs, container.Ref{ID: id, Name: name})
	}
	ref, err := container.Resolve(idOrName, refs)
	if err != nil {
		return container.Ref{}, nil, err
	}
	return ref, c.liveOf(ref.ID), nil
}

// plain resolves idOrName to a plain container: a task's is refused, as
// the swarm manages it.
func (c *Containers) plain(ctx context.Context, idOrName, action string) (container.Ref, *live, error) {
	ref, l, err := c.resolve(ctx, idOrName)
	if err != nil {
		return ref, nil, err
	}
	if l == nil {
		return ref, nil, errdefs.Invalid("cannot %s container %s: it runs a swarm task, which the swarm manages; use docker service commands", action, ref.Name)
	}
	return ref, l, nil
}

// Create makes a plain container from a create request, as POST
// /containers/create: every check first, and on any failure nothing is
// left behind.
func (c *Containers) Create(ctx context.Context, name string, req containertypes.CreateRequest) (containertypes.CreateResponse, error) {
	if req.Config == nil {
		return containertypes.CreateResponse{}, errdefs.Invalid("config cannot be empty in order to create a container")
	}
	host := containertypes.HostConfig{}
	if req.HostConfig != nil {
		host = *req.HostConfig
	}
	if name != "" {
		n, err := container.CheckName(name)
		if err != nil {
			return containertypes.CreateResponse{}, err
		}
		name = n
	}
	container.WithDefaults(&host)
	if err := container.Validate(req.Config, &host, c.ncpu); err != nil {
		return containertypes.CreateResponse{}, err
	}
	if _, err := c.exec.Runtimes().Resolve(host.Runtime); err != nil {
		return containertypes.CreateResponse{}, err
	}
	swarmNet, err := c.networkMode(ctx, &host, req.NetworkingConfig)
	if err != nil {
		return containertypes.CreateResponse{}, err
	}
	var netReqs []request
	if swarmNet == "" {
		if netReqs, err = c.nets.wanted(&host, req.NetworkingConfig); err != nil {
			return containertypes.CreateResponse{}, err
		}
	}
	img, imageID, icfg, err := c.images.LocalWithConfig(ctx, req.Config.Image)
	if err != nil {
		return containertypes.CreateResponse{}, err
	}
	cfg, err := container.FromImage(*req.Config, icfg)
	if err != nil {
		return containertypes.CreateResponse{}, err
	}
	mounts, err := container.Mounts(&cfg, &host)
	if err != nil {
		return containertypes.CreateResponse{}, err
	}

	var regenerate func() (string, error)
	if name == "" {
		regenerate = func() (string, error) { return c.generateName(ctx) }
		if name, err = regenerate(); err != nil {
			return containertypes.CreateResponse{}, err
		}
	} else {
		// A plain container's name is checked again, atomically, by
		// the store's Add; a task container's only here.
		holder, held, err := c.nameHolder(ctx, name)
		if err != nil {
			return containertypes.CreateResponse{}, err
		}
		if held && !c.store.Has(holder) {
			return containertypes.CreateResponse{}, container.NameConflict(name, holder)
		}
	}
	ctr := &container.Container{
		ID: identity.NewContainerID(), Name: name, Created: time.Now().UTC(), ImageID: imageID.String(),
		Config: cfg, HostConfig: host, NetworkingConfig: req.NetworkingConfig,
	}
	if err := addContainer(c.store, ctr, regenerate); err != nil {
		return containertypes.CreateResponse{}, err
	}
	name = ctr.Name
	localAddr, err := c.nets.reserve(ctr.ID, netReqs)
	if err == nil && swarmNet != "" {
		// The managers give the address; a refusal leaves nothing. The
		// overlay is eth0 and its way out (fitWayOut, unless the
		// network is internal) eth1, as dockerd 20.10 names them.
		var ep swarmEndpoint
		ep, err = c.swarm.reserve(ctx, ctr.ID, name, swarmNet, swarmSettings(req.NetworkingConfig, swarmNet), "eth0")
		localAddr = ep.Addr.Addr()
	}
	if err == nil {
		err = c.exec.CreateContainer(ctx, containerdexec.Spec{
			ID: ctr.ID, Name: name, Image: img, ImageID: ctr.ImageID,
			Config: cfg, HostConfig: host, Mounts: mounts, LocalAddr: localAddr,
		})
		if err == nil {
			err = c.nets.plug(ctx, ctr.ID, &host)
			if err == nil {
				err = c.swarm.plug(ctx, ctr.ID, &host, c.localResolverNets(ctr.ID))
			}
			if err == nil && swarmNet != "" {
				err = c.fitWayOut(ctx, ctr.ID, &host)
			}
			if err != nil {
				if rerr := c.exec.RemoveContainer(context.WithoutCancel(ctx), ctr.ID, true); rerr != nil {
					c.log.Warn("remove a container whose networks could not be plugged", "container.id", ctr.ID, "err", rerr)
				}
			}
		}
		if err != nil {
			if uerr := c.nets.unplug(context.WithoutCancel(ctx), ctr.ID); uerr != nil {
				c.log.Warn("take back the endpoints of a container that could not be made", "container.id", ctr.ID, "err", uerr)
			}
			if uerr := c.swarm.release(context.WithoutCancel(ctx), ctr.ID, true); uerr != nil {
				c.log.Warn("give back the network attachments of a container that could not be made", "container.id", ctr.ID, "err", uerr)
			}
		}
	}
	if err != nil {
		if derr := c.store.Delete(ctr.ID); derr != nil {
			c.log.Warn("forget a container that could not be made", "container.id", ctr.ID, "err", derr)
		}
		return containertypes.CreateResponse{}, err
	}
	c.addLive(ctr)
	c.log.Debug("container created", "container.id", ctr.ID, "container.name", name)
	return containertypes.CreateResponse{ID: ctr.ID, Warnings: []string{}}, nil
}

// generateName draws a name no container holds now.
func (c *Containers) generateName(ctx context.Context) (string, error) {
	var herr error
	name := container.GenerateName(func(n string) bool {
		_, held, err := c.nameHolder(ctx, n)
		herr = err
		return held
	})
	return name, herr
}

// addContainer stores ctr. A name drawn by regenerate (nil for a name
// the request gave) that another create took since it was drawn is
// drawn again: a burst of creates without names draws from 1,600 names,
// and two of 50 drew the same one before either was stored.
func addContainer(store *container.Store, ctr *container.Container, regenerate func() (string, error)) error {
	for tries := 1; ; tries++ {
		err := store.Add(ctr)
		// The ID is new: a conflict is the name's.
		if err == nil || regenerate == nil || !errdefs.Is(err, errdefs.KindConflict) || tries == maxNameDraws {
			return err
		}
		if ctr.Name, err = regenerate(); err != nil {
			return err
		}
	}
}

// maxNameDraws bounds how often a create draws a name again.
const maxNameDraws = 5

// nameHolder returns the container that holds name, plain or a task's:
// the store's index of names for plain containers, one containerd query
// filtered by the task-name label for task containers — never a read of
// every container, which made a burst of N creates cost O(N²).
func (c *Containers) nameHolder(ctx context.Context, name string) (id string, held bool, err error) {
	if id, ok := c.store.NameHolder(name); ok {
		return id, true, nil
	}
	ids, err := c.exec.TaskContainersNamed(ctx, name)
	if err != nil {
		return "", false, err
	}
	for _, id := range ids {
		if !c.store.Has(id) {
			return id, true, nil
		}
	}
	return "", false, nil
}

// networkMode resolves the create request's network mode
// (resolveNetworkMode); a network this node does not have is, in a
// swarm, taken for an attachable overlay, whose name it returns: the
// managers decide. Its endpoint settings may name no other network.
func (c *Containers) networkMode(ctx context.Context, host *containertypes.HostConfig, cfg *network.NetworkingConfig) (string, error) {
	err := c.resolveNetworkMode(ctx, host)
	if err == nil || !errdefs.Is(err, errdefs.KindNotFound) || !host.NetworkMode.IsUserDefined() || !c.swarm.enabled() {
		return "", err
	}
	ref := string(host.NetworkMode)
	if cfg != nil {
		for name := range cfg.EndpointsConfig {
			if name != ref {
				return "", errdefs.Invalid("NetworkingConfig: a container on swarm network %s can be on no other network at create (%s): connect it afterwards", ref, name)
			}
		}
	}
	return ref, nil
}

// swarmSettings are the endpoint settings given for network ref.
func swarmSettings(cfg *network.NetworkingConfig, ref string) *network.EndpointSettings {
	if cfg == nil {
		return nil
	}
	return cfg.EndpointsConfig[ref]
}

// resolveNetworkMode checks that the network a container asks for is one
// this node has (a user-defined one named as the network is named), and
// names the container of container:NAME by its full ID.
func (c *Containers) resolveNetworkMode(ctx context.Context, host *containertypes.HostConfig) error {
	mode := host.NetworkMode
	switch {
	case mode.IsBridge(), mode.IsHost(), mode.IsNone():
		return nil
	case mode.IsUserDefined() && c.nets.has(string(mode)):
		n, err := c.nets.find(string(mode))
		if err != nil {
			return err
		}
		host.NetworkMode = containertypes.NetworkMode(n.Name)
		return nil
	case mode.IsContainer():
		names, err := c.exec.Names(ctx)
		if err != nil {
			return err
		}
		refs := make([]container.Ref, 0, len(names))
		for id, n := range names {
			refs = append(refs, container.Ref{ID: id, Name: n})
		}
		ref, err := container.Resolve(mode.ConnectedContainer(), refs)
		if err != nil {
			return err
		}
		host.NetworkMode = containertypes.NetworkMode("container:" + ref.ID)
		return nil
	}
	return errdefs.NotFound("network %s not found", mode)
}

// List returns the containers as GET /containers/json shows them, newest
// first: the running ones, or all with all; filters are docker ps's.
func (c *Containers) List(ctx context.Context, all bool, raw map[string][]string) ([]containertypes.Summary, error) {
	var pairs [][2]string
	for k, vs := range raw {
		for _, v := range vs {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	ovs, err := c.exec.Overviews(ctx)
	if err != nil {
		return nil, err
	}
	created := func(idOrName string) (time.Time, error) {
		refs := make([]container.Ref, len(ovs))
		for i, ov := range ovs {
			refs[i] = container.Ref{ID: ov.Summary.ID, Name: ov.Name}
		}
		ref, err := container.Resolve(idOrName, refs)
		if err != nil {
			return time.Time{}, err
		}
		for _, ov := range ovs {
			if ov.Summary.ID == ref.ID {
				return ov.Created, nil
			}
		}
		return time.Time{}, errdefs.NotFound("No such container: %s", idOrName)
	}
	imageID := func(ref string) (string, bool) {
		img, err := c.images.Inspect(ctx, ref)
		return img.ID, err == nil
	}
	f, err := container.ParseListFilter(filters.New(pairs...), created, imageID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []containertypes.Summary
	for _, ov := range ovs {
		s := c.decorate(ov, now)
		if !all && !f.IncludesStopped() && s.State != containertypes.StateRunning && s.State != containertypes.StateRestarting {
			continue
		}
		if !f.Match(candidate(ov, s)) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// decorate adds to a plain container's summary what only the engine
// knows: its published ports and a pending restart.
func (c *Containers) decorate(ov containerdexec.Overview, now time.Time) containertypes.Summary {
	s := ov.Summary
	l := c.liveOf(s.ID)
	if l == nil {
		return s
	}
	if eps := c.settings(s.ID); len(eps) > 0 {
		if s.NetworkSettings == nil {
			s.NetworkSettings = &containertypes.NetworkSettingsSummary{}
		}
		if s.NetworkSettings.Networks == nil {
			s.NetworkSettings.Networks = map[string]*network.EndpointSettings{}
		}
		maps.Copy(s.NetworkSettings.Networks, eps)
	}
	if ctr, ok := c.store.Get(s.ID); ok {
		for _, b := range ctr.Ports {
			ip := b.HostIP
			if !ip.IsValid() {
				ip = netip.IPv4Unspecified()
			}
			s.Ports = append(s.Ports, containertypes.PortSummary{
				IP: ip, PrivatePort: b.Port.Num(), PublicPort: b.HostPort, Type: string(b.Port.Proto()),
			})
		}
		for p := range ctr.Config.ExposedPorts {
			if !slices.ContainsFunc(ctr.Ports, func(b container.Binding) bool { return b.Port == p }) {
				s.Ports = append(s.Ports, containertypes.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			}
		}
	}
	l.mu.Lock()
	restarting := l.restart != nil
	l.mu.Unlock()
	if restarting {
		s.State = containertypes.StateRestarting
		s.Status = fmt.Sprintf("Restarting (%d) %s ago", ov.ExitCode, units.HumanDuration(now.Sub(time.Unix(s.Created, 0))))
	}
	return s
}

// candidate is what the filters look at in a listed container.
func candidate(ov containerdexec.Overview, s containertypes.Summary) container.Candidate {
	cand := container.Candidate{
		ID: s.ID, Name: ov.Name, Image: s.Image, ImageID: s.ImageID, Labels: s.Labels,
		State: s.State, ExitCode: ov.ExitCode, Started: ov.Started, Health: containertypes.NoHealthcheck,
		Created: ov.Created, IsTask: s.Labels[containerdexec.LabelTaskID] != "",
	}
	if s.Health != nil {
		cand.Health = s.Health.Status
	}
	if s.NetworkSettings != nil {
		for name, ep := range s.NetworkSettings.Networks {
			cand.Networks = append(cand.Networks, name)
			if ep != nil && ep.NetworkID != "" {
				cand.Networks = append(cand.Networks, ep.NetworkID)
			}
		}
	}
	// A container's place on none is in its networks (Containers.settings):
	// one that left it is not on it.
	if nm := s.HostConfig.NetworkMode; nm == "host" {
		cand.Networks = append(cand.Networks, nm)
	}
	for _, m := range s.Mounts {
		cand.Volumes = append(cand.Volumes, m.Name, m.Source, m.Destination)
	}
	cand.Exposed = network.PortSet{}
	for _, p := range s.Ports {
		port, ok := network.PortFrom(p.PrivatePort, network.IPProtocol(p.Type))
		if !ok {
			continue
		}
		cand.Exposed[port] = struct{}{}
		if p.PublicPort != 0 {
			cand.Bound = append(cand.Bound, port)
		}
	}
	return cand
}

// Inspect returns the container as GET /containers/{id}/json shows it.
func (c *Containers) Inspect(ctx context.Context, idOrName string) (containertypes.InspectResponse, error) {
	ref, l, err := c.resolve(ctx, idOrName)
	if err != nil {
		return containertypes.InspectResponse{}, err
	}
	resp, err := c.exec.Inspect(ctx, ref.ID)
	if err != nil || l == nil {
		return resp, err
	}
	ctr, ok := c.store.Get(ref.ID)
	if !ok {
		return resp, errdefs.NotFound("No such container: %s", idOrName)
	}
	resp.RestartCount = ctr.RestartCount
	resp.HostConfig.AutoRemove = ctr.HostConfig.AutoRemove
	if resp.NetworkSettings != nil {
		resp.NetworkSettings.Ports = container.PortMap(ctr.Ports, ctr.Config.ExposedPorts)
		if eps := c.settings(ref.ID); len(eps) > 0 {
			if resp.NetworkSettings.Networks == nil {
				resp.NetworkSettings.Networks = map[string]*network.EndpointSettings{}
			}
			maps.Copy(resp.NetworkSettings.Networks, eps)
		}
	}
	l.mu.Lock()
	restarting := l.restart != nil
	l.mu.Unlock()
	if restarting && resp.State != nil {
		resp.State.Status, resp.State.Restarting, resp.State.Running = containertypes.StateRestarting, true, true
	}
	return resp, nil
}

// Logs calls out with the container's output lines, as docker logs shows
// them. A plain container's log is written by the daemon: following it
// ends once the current run's output has all been written.
func (c *Containers) Logs(ctx context.Context, idOrName string, opts containerdexec.LogOptions, out func(stream int, ts time.Time, line []byte) error) error {
	ref, l, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	if l == nil {
		return c.exec.Logs(ctx, ref.ID, opts, out)
	}
	var done <-chan struct{} = closedChan
	if opts.Follow {
		done = l.stdio.runEnded()
	}
	return containerdexec.ReadLog(ctx, c.exec.LogPath(ref.ID), opts, done, out)
}

var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// ExecCreate makes an exec instance in the running container idOrName.
func (c *Containers) ExecCreate(ctx context.Context, idOrName string, cfg containertypes.ExecCreateRequest) (string, error) {
	ref, _, err := c.resolve(ctx, idOrName)
	if err != nil {
		return "", err
	}
	return c.exec.ExecCreate(ctx, ref.ID, cfg)
}

// ExecStart runs an exec instance with the given streams.
func (c *Containers) ExecStart(ctx context.Context, execID string, stdin io.Reader, stdout, stderr io.Writer) error {
	return c.exec.ExecStart(ctx, execID, stdin, stdout, stderr)
}

// ExecInspect reports an exec instance.
func (c *Containers) ExecInspect(ctx context.Context, execID string) (containertypes.ExecInspectResponse, error) {
	return c.exec.ExecInspect(ctx, execID)
}

// ExecResize sets the size of an exec instance's terminal.
func (c *Containers) ExecResize(ctx context.Context, execID string, height, width uint) error {
	return c.exec.ExecResize(ctx, execID, uint32(height), uint32(width))
}

// Rename renames a plain container.
func (c *Containers) Rename(ctx context.Context, idOrName, newName string) error {
	ref, l, err := c.plain(ctx, idOrName, "rename")
	if err != nil {
		return err
	}
	name, err := container.CheckName(newName)
	if err != nil {
		return err
	}
	if name == ref.Name {
		return errdefs.Invalid("Renaming a container with the same name as its current name")
	}
	holder, held, err := c.nameHolder(ctx, name)
	if err != nil {
		return err
	}
	if held && holder != ref.ID {
		return container.NameConflict(name, holder)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := c.store.Update(ref.ID, func(ctr *container.Container) error { ctr.Name = name; return nil }); err != nil {
		return err
	}
	if err := c.exec.Rename(ref.ID, name); err != nil {
		c.store.Update(ref.ID, func(ctr *container.Container) error { ctr.Name = ref.Name; return nil })
		return err
	}
	c.nets.renamed()
	return nil
}

// Update changes a plain container's resources and restart policy, as
// docker update: those of its running process at once.
func (c *Containers) Update(ctx context.Context, idOrName string, upd containertypes.UpdateConfig) (containertypes.UpdateResponse, error) {
	ref, l, err := c.plain(ctx, idOrName, "update")
	if err != nil {
		return containertypes.UpdateResponse{}, err
	}
	if err := container.CheckResources(&upd.Resources, c.ncpu); err != nil {
		return containertypes.UpdateResponse{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ctr, ok := c.store.Get(ref.ID)
	if !ok {
		return containertypes.UpdateResponse{}, errdefs.NotFound("No such container: %s", idOrName)
	}
	host := ctr.HostConfig
	if upd.RestartPolicy.Name != "" {
		if err := containertypes.ValidateRestartPolicy(upd.RestartPolicy); err != nil {
			return containertypes.UpdateResponse{}, errdefs.Invalid("%v", err)
		}
		if host.AutoRemove && upd.RestartPolicy.Name != containertypes.RestartPolicyDisabled {
			return containertypes.UpdateResponse{}, errdefs.Invalid("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		host.RestartPolicy = upd.RestartPolicy
	}
	mergeResources(&host.Resources, upd.Resources)
	if err := container.CheckResources(&host.Resources, c.ncpu); err != nil {
		return containertypes.UpdateResponse{}, err
	}
	if err := c.exec.UpdateResources(ctx, ref.ID, host); err != nil {
		return containertypes.UpdateResponse{}, err
	}
	if _, err := c.store.Update(ref.ID, func(ctr *container.Container) error { ctr.HostConfig = host; return nil }); err != nil {
		return containertypes.UpdateResponse{}, err
	}
	return containertypes.UpdateResponse{Warnings: []string{}}, nil
}

// mergeResources sets in r what an update sets: docker update sends only
// what it changes, zero for the rest.
func mergeResources(r *containertypes.Resources, upd containertypes.Resources) {
	if upd.Memory != 0 {
		r.Memory = upd.Memory
	}
	if upd.MemoryReservation != 0 {
		r.MemoryReservation = upd.MemoryReservation
	}
	if upd.MemorySwap != 0 {
		r.MemorySwap = upd.MemorySwap
	}
	if upd.NanoCPUs != 0 {
		r.NanoCPUs, r.CPUQuota, r.CPUPeriod = upd.NanoCPUs, 0, 0
	}
	if upd.CPUQuota != 0 {
		r.CPUQuota, r.NanoCPUs = upd.CPUQuota, 0
	}
	if upd.CPUPeriod != 0 {
		r.CPUPeriod, r.NanoCPUs = upd.CPUPeriod, 0
	}
	if upd.CPUShares != 0 {
		r.CPUShares = upd.CPUShares
	}
	if upd.CpusetCpus != "" {
		r.CpusetCpus = upd.CpusetCpus
	}
	if upd.CpusetMems != "" {
		r.CpusetMems = upd.CpusetMems
	}
	if upd.PidsLimit != nil {
		r.PidsLimit = upd.PidsLimit
	}
}

// Remove deletes a container as docker rm: a running one only with
// force, which kills it; a plain container's anonymous volumes only with
// removeVolumes. A task container removed by hand is replaced by the
// swarm.
func (c *Containers) Remove(ctx context.Context, idOrName string, force, removeVolumes bool) error {
	ref, l, err := c.resolve(ctx, idOrName)
	if err != nil {
		return err
	}
	if l == nil {
		return c.exec.Remove(ctx, ref.ID, force)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.removed {
		return errdefs.NotFound("No such container: %s", idOrName)
	}
	if l.run != nil && !force {
		return errdefs.Conflict("You cannot remove a running container %s. Stop the container before attempting removal or force remove", ref.ID)
	}
	return c.removeLocked(ctx, ref.ID, l, removeVolumes)
}

// removeLocked deletes plain container id, whose lock is held.
func (c *Containers) removeLocked(ctx context.Context, id string, l *live, removeVolumes bool) error {
	if l.restart != nil {
		l.restart.Stop()
		l.restart = nil
	}
	if err := c.nets.unplug(ctx, id); err != nil {
		c.log.Warn("unplug the local networks of a removed container", "container.id", id, "err", err)
	}
	if err := c.swarm.release(ctx, id, true); err != nil {
		c.log.Warn("give back the network attachments of a removed container", "container.id", id, "err", err)
	}
	if err := c.exec.RemoveContainer(ctx, id, removeVolumes); err != nil {
		return err
	}
	if err := c.ports.UnpublishPorts(ctx, id); err != nil {
		c.log.Warn("unpublish the ports of a removed container", "container.id", id, "err", err)
	}
	if err := c.store.Delete(id); err != nil {
		return err
	}
	l.removed = true
	close(l.gone)
	c.mu.Lock()
	delete(c.live, id)
	c.mu.Unlock()
	c.log.Debug("container removed", "container.id", id)
	return nil
}

// Prune removes the plain containers that do not run, as docker container
// prune: filters until (created before) and label, label!.
func (c *Containers) Prune(ctx context.Context, raw map[string][]string) (containertypes.PruneReport, error) {
	var pairs [][2]string
	for k, vs := range raw {
		for _, v := range vs {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	args := filters.New(pairs...)
	if err := args.Validate("until", "label", "label!"); err != nil {
		return containertypes.PruneReport{}, err
	}
	var until time.Time
	for _, v := range args.Get("until") {
		t, err := parseUntil(v, time.Now())
		if err != nil {
			return containertypes.PruneReport{}, err
		}
		until = t
	}
	report := containertypes.PruneReport{ContainersDeleted: []string{}}
	for _, ctr := range c.store.All() {
		l := c.liveOf(ctr.ID)
		if l == nil {
			continue
		}
		if !until.IsZero() && !ctr.Created.Before(until) {
			continue
		}
		if !args.Labels("label", ctr.Config.Labels) || (len(args.Get("label!")) > 0 && args.Labels("label!", ctr.Config.Labels)) {
			continue
		}
		l.mu.Lock()
		if l.run == nil && l.restart == nil && !l.removed {
			if err := c.removeLocked(ctx, ctr.ID, l, false); err != nil {
				l.mu.Unlock()
				return report, err
			}
			report.ContainersDeleted = append(report.ContainersDeleted, ctr.ID)
		}
		l.mu.Unlock()
	}
	return report, nil
}

// parseUntil reads a prune until filter: a duration before now ("24h"),
// Unix seconds, or an RFC 3339 time.
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	return time.Time{}, errdefs.Invalid("invalid filter 'until=%s': want a duration (24h), Unix seconds or an RFC 3339 time", v)
}
