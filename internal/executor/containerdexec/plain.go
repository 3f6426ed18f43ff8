package containerdexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	mounttypes "github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/network/resolver"
)

// This file runs plain containers: those made through the API rather than
// by the swarm. They are made and shown like task containers (the same
// record, files, spec and views), with three differences. Their config
// is decided by the caller (internal/engine), not from a task. Their
// process can be started again, as restart policies and docker start
// need. And the daemon holds their stdio itself, through FIFOs, as
// dockerd does: a process's stdin can be attached to only that way (a
// shim's log driver gets no stdin). The price is that output a container
// writes while the daemon is down waits in the FIFO (64 KiB, then the
// writer blocks) until a new daemon attaches again.

// outputGrace bounds how long a plain container's output is drained
// after its process exited: a child left behind may hold it open.
const outputGrace = 2 * time.Second

// Spec is a plain container to make: its config decided already.
type Spec struct {
	ID, Name string
	Image    client.Image
	ImageID  string
	// Config is the container's config, filled in from the image's.
	Config container.Config
	// HostConfig is as asked; its NetworkMode is bridge, host, none,
	// container:ID (a full ID) or a local network's name.
	HostConfig container.HostConfig
	// LocalAddr is the container's address on the local network or
	// attachable overlay its NetworkMode names, for its hosts file. Its namespace gets only its
	// loopback here: the engine plugs its interfaces, and it resolves
	// names through the embedded DNS server at 127.0.0.11.
	LocalAddr netip.Addr
	// Mounts are every mount, checked; a volume's Source is its name,
	// empty for an anonymous one.
	Mounts []mounttypes.Mount
}

// CreateContainer makes a plain container: its files, network sandbox and
// containerd container. On failure it leaves nothing behind.
func (e *Executor) CreateContainer(ctx context.Context, s Spec) error {
	ctx = e.ns(ctx)
	if err := e.createContainer(ctx, s); err != nil {
		e.cleanupFailed(ctx, s.ID)
		return err
	}
	return nil
}

func (e *Executor) createContainer(ctx context.Context, s Spec) (err error) {
	cfg, host := s.Config, s.HostConfig
	if cfg.Hostname == "" {
		cfg.Hostname = s.ID[:12]
	}
	grace := defaultStopGrace
	if cfg.StopTimeout != nil {
		grace = time.Duration(*cfg.StopTimeout) * time.Second
	}
	mounts, points, uses, err := resolveMounts(s.ID, s.Mounts, e.cfg.Volumes.Root())
	if err != nil {
		return err
	}
	if err := checkBindSources(s.Mounts); err != nil {
		return err
	}
	if err := e.acquireVolumes(ctx, s.ID, s.Image, uses); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := e.releaseVolumes(context.WithoutCancel(ctx), s.ID, uses); rerr != nil {
				e.log.Warn("release volumes after failed create", "container.id", s.ID, "err", rerr)
			}
		}
	}()
	rec := &record{Name: s.Name, ImageID: s.ImageID, Config: cfg, HostConfig: host, Mounts: points, StopGrace: grace}
	files, err := e.plainNetwork(ctx, s.ID, rec, s.LocalAddr)
	if err != nil {
		return err
	}
	dir := e.dir(s.ID)
	if err := os.MkdirAll(dir, 0o710); err != nil {
		return fmt.Errorf("create container directory: %w", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	remap := e.remapOf(&rec.HostConfig)
	if err := ownContainerDir(dir, files, remap); err != nil {
		return err
	}
	runtimeOpts, runtimeSpec, err := withRuntime(e.cfg.Runtimes, &rec.HostConfig)
	if err != nil {
		return err
	}
	if err := e.writeJSON(s.ID, "config.json", rec); err != nil {
		return err
	}
	opts, err := specOpts(rec, dir, mounts, e.cfg.InitPath, e.cfg.Remap)
	if err != nil {
		return err
	}
	opts = append(append(opts, plainSpecOpts(&rec.HostConfig)...), runtimeSpec...)
	opts = append(opts, e.withShimGroup(&rec.HostConfig, remap != nil)...)
	_, err = e.cfg.Client.NewContainer(ctx, s.ID, append([]client.NewContainerOpts{
		client.WithImage(s.Image),
		client.WithSnapshotter(e.cfg.Snapshotter),
		newSnapshot(s.ID, s.Image, remap),
		client.WithContainerLabels(cfg.Labels),
		client.WithNewSpec(opts...),
	}, runtimeOpts...)...)
	if err != nil {
		return fmt.Errorf("create container %s: %w", s.ID, err)
	}
	e.containerEvent(s.ID, rec, events.ActionCreate, nil)
	e.networkEvents(s.ID, rec, events.ActionConnect)
	return nil
}

// plainNetwork gives the container its network as its mode asks, records
// it in rec, and returns the contents of its hostname, hosts and
// resolv.conf files.
func (e *Executor) plainNetwork(ctx context.Context, id string, rec *record, localAddr netip.Addr) (map[string][]byte, error) {
	host := &rec.HostConfig
	mode := host.NetworkMode
	if mode.IsContainer() {
		// The files of the container whose namespace it joins, as they are.
		other := mode.ConnectedContainer()
		orec, err := e.readRecord(other)
		if err != nil {
			return nil, errdefs.NotFound("No such container: %s", other)
		}
		if orec.SandboxKey == "" {
			return nil, errdefs.Invalid("cannot join the network of container %s: it has the host's", other)
		}
		rec.SandboxKey = orec.SandboxKey
		if e.remapOf(host) != nil {
			// A namespace can be entered only from the user namespace
			// owning it, or an ancestor: both are shared, as with dockerd.
			rec.UsernsKey = orec.UsernsKey
		}
		rec.Config.Hostname = orec.Config.Hostname
		files := map[string][]byte{}
		for _, f := range containerFiles {
			b, err := os.ReadFile(filepath.Join(e.dir(other), f.name))
			if err != nil {
				return nil, fmt.Errorf("read %s of container %s: %w", f.name, other, err)
			}
			files[f.name] = b
		}
		return files, nil
	}

	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read host resolv.conf: %w", err)
	}
	var (
		addr        netip.Addr
		embeddedDNS bool
	)
	if !mode.IsHost() {
		if rec.UsernsKey, err = e.ownNetwork(id, e.remapOf(host)); err != nil {
			return nil, err
		}
	}
	switch {
	case mode.IsHost():
		hostname, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostname: %w", err)
		}
		if rec.Config.Hostname == id[:12] {
			rec.Config.Hostname = hostname
		}
		hosts, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return nil, fmt.Errorf("read host hosts file: %w", err)
		}
		hosts = append(hosts, extraHosts(host.ExtraHosts, e.hostGateway())...)
		return map[string][]byte{"hostname": []byte(rec.Config.Hostname + "\n"), "hosts": hosts, "resolv.conf": hostResolv}, nil
	case e.cfg.Network == nil:
	case mode.IsNone():
		if rec.SandboxKey, err = e.cfg.Network.Isolated(ctx, id); err != nil {
			return nil, fmt.Errorf("network sandbox of %s: %w", id, err)
		}
	case !mode.IsBridge():
		if rec.SandboxKey, err = e.cfg.Network.Isolated(ctx, id); err != nil {
			return nil, fmt.Errorf("network sandbox of %s: %w", id, err)
		}
		addr, embeddedDNS = localAddr, true
	default:
		if rec.SandboxKey, rec.Endpoint, err = e.cfg.Network.Sandbox(ctx, id, false); err != nil {
			return nil, fmt.Errorf("network sandbox of %s: %w", id, err)
		}
		addr = rec.Endpoint.Addr.Addr()
	}
	dns := &swarm.DNSConfig{Nameservers: host.DNS, Search: host.DNSSearch, Options: host.DNSOptions}
	var addrs []netip.Addr
	if addr.IsValid() {
		addrs = append(addrs, addr)
	}
	hosts := plainHosts(rec.Config.Hostname, rec.Config.Domainname, host.ExtraHosts, e.hostGateway(), addrs)
	resolv := resolvConf(hostResolv, dns)
	if embeddedDNS {
		resolv = resolver.ResolvConf(hostResolv, dns)
	}
	return map[string][]byte{
		"hostname":    []byte(rec.Config.Hostname + "\n"),
		"hosts":       hosts,
		"resolv.conf": resolv,
	}, nil
}

// hostGateway is what host-gateway stands for in an extra host: the node
// bridge's address whatever the container's network, as dockerd's
// default --host-gateway-ip is docker0's; loopback on a node without a
// bridge.
func (e *Executor) hostGateway() netip.Addr {
	if e.cfg.Network == nil {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return e.cfg.Network.Gateway()
}

// extraHosts are the lines of /etc/hosts for Docker's extra hosts
// ("name:IP" or "name=IP"); host-gateway stands for gateway.
func extraHosts(extra []string, gateway netip.Addr) []byte {
	var b strings.Builder
	for _, h := range extra {
		name, ip, ok := strings.Cut(h, "=")
		if !ok {
			name, ip, _ = strings.Cut(h, ":")
		}
		if ip == "host-gateway" {
			if !gateway.IsValid() {
				continue
			}
			ip = gateway.String()
		}
		fmt.Fprintf(&b, "%s\t%s\n", strings.Trim(ip, "[]"), name)
	}
	return []byte(b.String())
}

// plainSpecOpts are what a plain container's HostConfig asks beyond what
// task containers can: /dev/shm, the host's namespaces, and
// the limits of plainResourceOpts.
func plainSpecOpts(host *container.HostConfig) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if host.ShmSize > 0 {
		opts = append(opts, oci.WithDevShmSize(host.ShmSize/1024))
	}
	for _, ns := range []struct {
		host bool
		t    specs.LinuxNamespaceType
	}{
		{host.NetworkMode.IsHost(), specs.NetworkNamespace},
		{host.PidMode.IsHost(), specs.PIDNamespace},
		{host.IpcMode.IsHost(), specs.IPCNamespace},
		{host.UTSMode.IsHost(), specs.UTSNamespace},
	} {
		if ns.host {
			opts = append(opts, oci.WithHostNamespace(ns.t))
		}
	}
	return append(opts, plainResourceOpts(host)...)
}

// plainResourceOpts are the limits a plain container's HostConfig asks
// beyond what task containers can: CPU shares and sets, swap, and a CPU
// limit given as a count of CPUs or a quota in Docker's default period.
func plainResourceOpts(host *container.HostConfig) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if host.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(uint64(host.CPUShares)))
	}
	if host.CpusetCpus != "" {
		opts = append(opts, oci.WithCPUs(host.CpusetCpus))
	}
	if host.CpusetMems != "" {
		opts = append(opts, oci.WithCPUsMems(host.CpusetMems))
	}
	if host.MemorySwap != 0 {
		opts = append(opts, withMemorySwap(host.MemorySwap))
	}
	switch {
	case host.NanoCPUs > 0:
		opts = append(opts, oci.WithCPUCFS(host.NanoCPUs*cpuPeriod/1e9, cpuPeriod))
	case host.CPUQuota > 0:
		period := uint64(cpuPeriod)
		if host.CPUPeriod > 0 {
			period = uint64(host.CPUPeriod)
		}
		opts = append(opts, oci.WithCPUCFS(host.CPUQuota, period))
	}
	return opts
}

func withMemorySwap(bytes int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if s.Linux.Resources.Memory == nil {
			s.Linux.Resources.Memory = &specs.LinuxMemory{}
		}
		s.Linux.Resources.Memory.Swap = &bytes
		return nil
	}
}

// cleanupFailed undoes what a failed CreateContainer may have made.
func (e *Executor) cleanupFailed(ctx context.Context, id string) {
	if e.cfg.Network != nil {
		if err := e.cfg.Network.Release(ctx, id); err != nil {
			e.log.Warn("release network sandbox after failed create", "container.id", id, "err", err)
		}
	}
	if err := e.releaseUserns(id); err != nil {
		e.log.Warn("release user namespace after failed create", "container.id", id, "err", err)
	}
	if err := e.cfg.Client.SnapshotService(e.cfg.Snapshotter).Remove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
		e.log.Warn("remove snapshot after failed create", "container.id", id, "err", err)
	}
	os.RemoveAll(e.dir(id))
}

// Stdio are the streams of a plain container's process, held by the
// daemon. Stdin nil gives the process no stdin; with a TTY, Stderr is
// unused.
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run is one run of a plain container's process, whose stdio the daemon
// copies until it exits.
type Run struct {
	e         *Executor
	id        string
	task      client.Task
	io        cio.IO
	exited    <-chan client.ExitStatus
	StartedAt time.Time
	// keepTask leaves the exited task to the removal that follows (the
	// container's AutoRemove): deleting it is the longest step after an
	// exit, and RemoveContainer does it after the container is gone from
	// the API, off the path of the docker run --rm that waits for that.
	keepTask bool
}

// StartContainer starts the process of plain container id, which must
// not run, with the given stdio. A process that ran before is reaped
// first: restart policies and docker start run a container again.
func (e *Executor) StartContainer(ctx context.Context, id string, stdio Stdio) (*Run, error) {
	ctx = e.ns(ctx)
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return nil, errdefs.NotFound("No such container: %s", id)
	}
	rec, err := e.readRecord(id)
	if err != nil {
		return nil, fmt.Errorf("read config of %s: %w", id, err)
	}
	if err := e.settleAbortedStart(ctx, id); err != nil {
		return nil, err
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		st, err := task.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", id, err)
		}
		if st.Status != client.Stopped {
			return nil, errdefs.Conflict("container %s is already running", id)
		}
		if err := e.reap(ctx, ctr); err != nil {
			return nil, err
		}
	} else if !cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("load task of %s: %w", id, err)
	}
	if mode := rec.HostConfig.NetworkMode; mode.IsContainer() {
		other := mode.ConnectedContainer()
		octr, err := e.cfg.Client.LoadContainer(ctx, other)
		if err == nil {
			err = e.checkRunning(ctx, octr)
		}
		if err != nil {
			return nil, errdefs.Conflict("cannot join network of a non running container: %s", other)
		}
	}
	e.forgetHealth(id)

	prev, err := e.readState(id)
	if err != nil {
		return nil, err
	}
	opts := []cio.Opt{cio.WithStreams(stdio.Stdin, stdio.Stdout, stdio.Stderr), cio.WithFIFODir(filepath.Join(e.cfg.Root, "fifo"))}
	if rec.Config.Tty {
		opts = append(opts, cio.WithTerminal)
	}
	group, joined, err := e.joinShimGroup(ctx, ctr)
	if err != nil {
		return nil, err
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(opts...))
	joined(err == nil)
	if err != nil {
		return nil, startError(fmt.Errorf("create task of %s: %w", id, err))
	}
	deleteTask := func() {
		e.groups.Close(group)
		e.abortStart(ctx, id, task)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		deleteTask()
		return nil, fmt.Errorf("wait for %s: %w", id, err)
	}
	if err := e.mountVolumes(ctx, id, rec); err != nil {
		deleteTask()
		return nil, err
	}
	started := time.Now().UTC()
	// The start is recorded before it happens, as for tasks; the previous
	// run's end stays shown until this one ends.
	if err := e.writeJSON(id, "state.json", runState{StartedAt: started, FinishedAt: prev.FinishedAt}); err != nil {
		deleteTask()
		return nil, err
	}
	if err := task.Start(ctx); err != nil {
		deleteTask()
		e.writeJSON(id, "state.json", prev)
		return nil, startError(fmt.Errorf("start container %s: %w", id, err))
	}
	timeAction("start", started)
	e.mountEvents(id, rec)
	e.containerEvent(id, rec, events.ActionStart, nil)
	if _, _, err := e.monitor(ctx, ctr, rec); err != nil {
		e.log.Warn("cannot start health checks", "container.id", id, "err", err)
	}
	return &Run{e: e, id: id, task: task, io: task.IO(), exited: exited, StartedAt: started, keepTask: rec.HostConfig.AutoRemove}, nil
}

// startError makes runc's complaint about the command the part a user
// sees, as dockerd does ("exec: "nope": executable file not found in
// $PATH"), a 400: the docker CLI reads it to exit 127 or 126. crun says
// a missing command its own way, which the CLI does not read; it is
// said as runc says it.
func startError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "exec: "); i >= 0 {
		return errdefs.Invalid("failed to create task for container: %s", strings.TrimSuffix(strings.TrimSpace(msg[i:]), ": unknown"))
	}
	if m := crunNotFound.FindStringSubmatch(msg); m != nil {
		return errdefs.Invalid("failed to create task for container: exec: %q: executable file not found in $PATH", m[1])
	}
	return err
}

// crunNotFound is crun's complaint about a command it cannot find.
var crunNotFound = regexp.MustCompile("executable file `(.*)` not found in \\$PATH")

// AdoptContainer attaches the daemon's streams again to the process of
// plain container id that an earlier daemon started and that still runs.
// It is errdefs.NotFound when the process does not run.
func (e *Executor) AdoptContainer(ctx context.Context, id string, stdio Stdio) (*Run, error) {
	ctx = e.ns(ctx)
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return nil, errdefs.NotFound("No such container: %s", id)
	}
	if err := e.settleAbortedStart(ctx, id); err != nil {
		return nil, err
	}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil, errdefs.NotFound("container %s does not run", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load task of %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", id, err)
	}
	if st.Status == client.Stopped || st.Status == client.Created {
		return nil, errdefs.NotFound("container %s does not run", id)
	}
	task, err = ctr.Task(ctx, cio.NewAttach(cio.WithStreams(stdio.Stdin, stdio.Stdout, stdio.Stderr)))
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", id, err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for %s: %w", id, err)
	}
	rs, err := e.readState(id)
	if err != nil {
		return nil, err
	}
	keepTask := false
	if rec, err := e.readRecord(id); err == nil {
		keepTask = rec.HostConfig.AutoRemove
		if _, _, err := e.monitor(ctx, ctr, rec); err != nil {
			e.log.Warn("cannot start health checks", "container.id", id, "err", err)
		}
	}
	return &Run{e: e, id: id, task: task, io: task.IO(), exited: exited, StartedAt: rs.StartedAt, keepTask: keepTask}, nil
}

// Wait waits until the run's process has exited and its output has been
// copied, records how it ended, and returns that. When ctx ends first it
// returns ctx's error and leaves the run as it is: a daemon that stops
// leaves its containers running (see Detach).
func (r *Run) Wait(ctx context.Context) (executor.ExitStatus, error) {
	var st client.ExitStatus
	select {
	case <-ctx.Done():
		return executor.ExitStatus{}, ctx.Err()
	case st = <-r.exited:
	}
	if err := st.Error(); err != nil && !cerrdefs.IsNotFound(native(err)) {
		r.e.log.Warn("wait for container", "container.id", r.id, "err", err)
	}
	drained := make(chan struct{})
	go func() { r.io.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(outputGrace):
		r.io.Cancel()
		<-drained
	}
	bg := r.e.ns(context.WithoutCancel(ctx))
	ctr, err := r.e.cfg.Client.LoadContainer(bg, r.id)
	if err == nil {
		err = r.e.reapTask(bg, ctr, r.keepTask)
	}
	if err := r.io.Close(); err != nil {
		r.e.log.Debug("close container stdio", "container.id", r.id, "err", err)
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return executor.ExitStatus{}, err
	}
	rs, err := r.e.readState(r.id)
	if err != nil {
		return executor.ExitStatus{}, err
	}
	if !rs.Exited {
		// Removed meanwhile: the exit is the one containerd reported.
		return executor.ExitStatus{Code: int(st.ExitCode()), At: st.ExitTime()}, nil
	}
	return executor.ExitStatus{Code: rs.ExitCode, OOMKilled: rs.OOMKilled, At: rs.FinishedAt}, nil
}

// Detach stops copying the run's stdio, for a daemon that stops: the
// process runs on, its FIFOs stay for the next daemon to attach to.
func (r *Run) Detach() {
	r.io.Cancel()
}

// CloseStdin tells the process its input has ended: the shim holds the
// stdin FIFO open itself.
func (r *Run) CloseStdin(ctx context.Context) error {
	err := r.task.CloseIO(r.e.ns(ctx), client.WithStdinCloser)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("close stdin of %s: %w", r.id, err)
	}
	return nil
}

// loadTask returns the task of container id; errdefs.Conflict when its
// process does not run.
func (e *Executor) loadTask(ctx context.Context, id string) (client.Task, error) {
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return nil, errdefs.NotFound("No such container: %s", id)
	}
	if err := e.checkRunning(ctx, ctr); err != nil {
		if task, terr := ctr.Task(ctx, nil); terr == nil {
			if st, serr := task.Status(ctx); serr == nil && st.Status == client.Paused {
				return task, nil
			}
		}
		return nil, err
	}
	return ctr.Task(ctx, nil)
}

// Stop sends sig to container id's process and SIGKILL after grace when
// it still runs, and returns once it has exited; at once when it does
// not run.
func (e *Executor) Stop(ctx context.Context, id string, sig syscall.Signal, grace time.Duration) error {
	ctx = e.ns(ctx)
	if task, err := e.loadTask(ctx, id); err == nil {
		if st, err := task.Status(ctx); err == nil && st.Status == client.Paused {
			// A frozen process cannot take the signal: thaw it first.
			if err := task.Resume(ctx); err != nil {
				return fmt.Errorf("unpause %s to stop it: %w", id, err)
			}
		}
	}
	stopped, err := e.stop(ctx, id, sig, grace)
	if stopped && err == nil {
		e.containerEvent(id, nil, events.ActionStop, nil)
	}
	return err
}

// Signal sends sig to container id's process; errdefs.Conflict when it
// does not run.
func (e *Executor) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	ctx = e.ns(ctx)
	task, err := e.loadTask(ctx, id)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, sig); err != nil {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	e.containerEvent(id, nil, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// Pause freezes container id's processes.
func (e *Executor) Pause(ctx context.Context, id string) error {
	ctx = e.ns(ctx)
	task, err := e.loadTask(ctx, id)
	if err != nil {
		return err
	}
	if st, err := task.Status(ctx); err == nil && st.Status == client.Paused {
		return errdefs.Conflict("Container %s is already paused", id)
	}
	if err := task.Pause(ctx); err != nil {
		return fmt.Errorf("pause %s: %w", id, err)
	}
	e.containerEvent(id, nil, events.ActionPause, nil)
	return nil
}

// Resume thaws container id's processes.
func (e *Executor) Resume(ctx context.Context, id string) error {
	ctx = e.ns(ctx)
	task, err := e.loadTask(ctx, id)
	if err != nil {
		return err
	}
	if st, err := task.Status(ctx); err == nil && st.Status != client.Paused {
		return errdefs.Conflict("Container %s is not paused", id)
	}
	if err := task.Resume(ctx); err != nil {
		return fmt.Errorf("unpause %s: %w", id, err)
	}
	e.containerEvent(id, nil, events.ActionUnPause, nil)
	return nil
}

// Resize sets the size of container id's terminal.
func (e *Executor) Resize(ctx context.Context, id string, height, width uint32) error {
	ctx = e.ns(ctx)
	task, err := e.loadTask(ctx, id)
	if err != nil {
		return err
	}
	if err := task.Resize(ctx, width, height); err != nil {
		return fmt.Errorf("resize the terminal of %s: %w", id, err)
	}
	return nil
}

// Pids returns the host PIDs of container id's processes.
func (e *Executor) Pids(ctx context.Context, id string) ([]int, error) {
	ctx = e.ns(ctx)
	task, err := e.loadTask(ctx, id)
	if err != nil {
		return nil, err
	}
	ps, err := task.Pids(ctx)
	if err != nil {
		return nil, fmt.Errorf("processes of %s: %w", id, err)
	}
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = int(p.Pid)
	}
	return out, nil
}

// Rename changes the name docker shows for container id.
func (e *Executor) Rename(id, name string) error {
	rec, err := e.readRecord(id)
	if err != nil {
		return fmt.Errorf("read config of %s: %w", id, err)
	}
	old := rec.Name
	rec.Name = name
	if err := e.writeJSON(id, "config.json", rec); err != nil {
		return err
	}
	e.containerEvent(id, rec, events.ActionRename, map[string]string{"oldName": "/" + old})
	return nil
}

// UpdateResources changes the resource limits of plain container id to
// host's: of its running process at once, and of its spec for its next
// runs.
func (e *Executor) UpdateResources(ctx context.Context, id string, host container.HostConfig) error {
	ctx = e.ns(ctx)
	rec, err := e.readRecord(id)
	if err != nil {
		return fmt.Errorf("read config of %s: %w", id, err)
	}
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return errdefs.NotFound("No such container: %s", id)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return fmt.Errorf("spec of %s: %w", id, err)
	}
	rec.HostConfig.Resources = host.Resources
	rec.HostConfig.RestartPolicy = host.RestartPolicy
	opts := append(resourceOpts(&rec.HostConfig), plainResourceOpts(&rec.HostConfig)...)
	for _, o := range opts {
		if err := o(ctx, e.cfg.Client, nil, spec); err != nil {
			return fmt.Errorf("update spec of %s: %w", id, err)
		}
	}
	if err := ctr.Update(ctx, client.UpdateContainerOpts(client.WithSpec(spec))); err != nil {
		return fmt.Errorf("update spec of %s: %w", id, err)
	}
	if task, err := e.loadTask(ctx, id); err == nil && spec.Linux != nil && spec.Linux.Resources != nil {
		if err := task.Update(ctx, client.WithResources(spec.Linux.Resources)); err != nil {
			return fmt.Errorf("update the limits of running %s: %w", id, err)
		}
	}
	if err := e.writeJSON(id, "config.json", rec); err != nil {
		return err
	}
	e.containerEvent(id, rec, events.ActionUpdate, nil)
	return nil
}

// RestartEvent records that container id was restarted (docker restart),
// after the stop and start events of the restart itself.
func (e *Executor) RestartEvent(id string) {
	e.containerEvent(id, nil, events.ActionRestart, nil)
}

// LogPath is the json-file log of container id.
func (e *Executor) LogPath(id string) string { return e.logPath(id) }

// Names returns the name of every container the executor shows, plain
// and tasks', by ID.
func (e *Executor) Names(ctx context.Context) (map[string]string, error) {
	entries, err := e.entries(e.ns(ctx))
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(entries))
	for _, en := range entries {
		out[en.ctr.ID()] = en.rec.Name
	}
	return out, nil
}

// NodeEndpoint returns container id's interface on the node bridge (its
// Ifname filled in), and whether it is its place on the default bridge
// rather than only its way out of an overlay; ok is false when it has
// none.
func (e *Executor) NodeEndpoint(id string) (ep executor.Endpoint, onDefault, ok bool) {
	rec, err := e.readRecord(id)
	if err != nil || rec.Endpoint == nil {
		return executor.Endpoint{}, false, false
	}
	ep = *rec.Endpoint
	if ep.Ifname == "" {
		ep.Ifname = "eth0"
	}
	return ep, onBridge(rec), true
}

// ConnectBridge puts plain container id on the default bridge (docker
// network connect bridge): an interface named ifname there, without the
// default route (the engine decides it). A way out it had on the node
// bridge goes first, as dockerd drops the docker_gwbridge interface.
func (e *Executor) ConnectBridge(ctx context.Context, id, ifname string) error {
	rec, err := e.readRecord(id)
	if err != nil {
		return err
	}
	if rec.Endpoint != nil && onBridge(rec) {
		return errdefs.Forbidden("endpoint with name %s already exists in network bridge", rec.Name)
	}
	if err := e.joinNode(ctx, id, rec, ifname, false); err != nil {
		return err
	}
	rec.Connected, rec.WayOut = true, false
	if err := e.writeJSON(id, "config.json", rec); err != nil {
		e.leaveNode(context.WithoutCancel(ctx), id)
		return err
	}
	e.bridgeEvent(id, events.ActionConnect)
	return nil
}

// DisconnectBridge takes plain container id off the default bridge
// (docker network disconnect bridge): its interface there goes.
func (e *Executor) DisconnectBridge(ctx context.Context, id string) error {
	rec, err := e.readRecord(id)
	if err != nil {
		return err
	}
	if rec.Endpoint == nil || !onBridge(rec) {
		return errdefs.Forbidden("container %s is not connected to network bridge", id)
	}
	if err := e.cfg.Network.Leave(ctx, id); err != nil {
		return err
	}
	rec.Endpoint, rec.Connected, rec.WayOut = nil, false, false
	if err := e.writeJSON(id, "config.json", rec); err != nil {
		return err
	}
	e.bridgeEvent(id, events.ActionDisconnect)
	return nil
}

// SetWayOut gives plain container id a way out on the node bridge, an
// interface named ifname (want), or takes the one it has away (!want),
// as the engine decides (localnet.NeedsWayOut). Its place on the
// default bridge, if it has one, is left alone: it is a way out too.
func (e *Executor) SetWayOut(ctx context.Context, id string, want bool, ifname string) error {
	rec, err := e.readRecord(id)
	if err != nil {
		return err
	}
	switch {
	case rec.Endpoint != nil && onBridge(rec), want == (rec.Endpoint != nil):
		return nil
	case want:
		if err := e.joinNode(ctx, id, rec, ifname, true); err != nil {
			return err
		}
		rec.WayOut = true
		if err := e.writeJSON(id, "config.json", rec); err != nil {
			e.leaveNode(context.WithoutCancel(ctx), id)
			return err
		}
		return nil
	}
	if err := e.cfg.Network.Leave(ctx, id); err != nil {
		return err
	}
	rec.Endpoint, rec.WayOut = nil, false
	return e.writeJSON(id, "config.json", rec)
}

// joinNode gives rec's container a new interface named ifname on the
// node bridge, in place of one it had: a way out or not (Join).
func (e *Executor) joinNode(ctx context.Context, id string, rec *record, ifname string, wayOut bool) error {
	if e.cfg.Network == nil {
		return errdefs.Unavailable("this node has no bridge network")
	}
	if rec.Endpoint != nil {
		if err := e.cfg.Network.Leave(ctx, id); err != nil {
			return err
		}
		rec.Endpoint = nil
	}
	ep, err := e.cfg.Network.Join(ctx, id, ifname, wayOut)
	if err != nil {
		return err
	}
	rec.Endpoint = ep
	return nil
}

// leaveNode undoes joinNode when its record could not be written.
func (e *Executor) leaveNode(ctx context.Context, id string) {
	if err := e.cfg.Network.Leave(ctx, id); err != nil {
		e.log.Warn("undo an interface on the node bridge", "container.id", id, "err", err)
	}
}

// WaitExit waits until container id's process has exited, at once when
// it does not run, and returns its exit code.
func (e *Executor) WaitExit(ctx context.Context, id string) (int, error) {
	ctx = e.ns(ctx)
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return 0, errdefs.NotFound("No such container: %s", id)
	}
	if err := e.retryUnavailable(ctx, id, func() error { return e.waitExit(ctx, ctr) }); err != nil {
		return 0, err
	}
	obs, err := e.observe(ctx, ctr)
	if err != nil {
		return 0, err
	}
	return obs.Run.ExitCode, nil
}

// WithRootFS calls fn with container id's root filesystem: the process's
// own view while it runs (its mounts included), else its snapshot mounted
// for the call (without its mounts).
func (e *Executor) WithRootFS(ctx context.Context, id string, fn func(root *os.Root) error) error {
	ctx = e.ns(ctx)
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return errdefs.NotFound("No such container: %s", id)
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if st, err := task.Status(ctx); err == nil && (st.Status == client.Running || st.Status == client.Paused) {
			root, err := os.OpenRoot(filepath.Join("/proc", strconv.Itoa(int(task.Pid())), "root"))
			if err != nil {
				return fmt.Errorf("open the root filesystem of %s: %w", id, err)
			}
			defer root.Close()
			return fn(root)
		}
	}
	mounts, err := e.cfg.Client.SnapshotService(e.cfg.Snapshotter).Mounts(ctx, id)
	if err != nil {
		return fmt.Errorf("mounts of the root filesystem of %s: %w", id, err)
	}
	return mount.WithTempMount(ctx, mounts, func(dir string) error {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return fmt.Errorf("open the root filesystem of %s: %w", id, err)
		}
		defer root.Close()
		return fn(root)
	})
}
