package containerdexec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/sys/signal"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
	"github.com/shoal-project/shoal/internal/network/resolver"
	"github.com/shoal-project/shoal/internal/template"
)

// controller drives the container of one task.
type controller struct {
	e    *Executor
	task *swarm.Task
	deps executor.Dependencies // the task's secrets and configs; may be nil
	id   string                // the container's ID
	name string                // the container's name, without Docker's leading "/"
	// tmpl is what the task's templates read; the task's container spec
	// is expanded in it already.
	tmpl template.Context
}

var _ executor.Controller = (*controller)(nil)

// Prepare gets the image and the network sandbox, writes the container's
// files and creates the container. A container that exists already is
// adopted as it is. A secret or config of the task that the node was not
// sent is an errdefs.NotFound error.
func (c *controller) Prepare(ctx context.Context) error {
	ctx = c.e.ns(ctx)
	if _, err := c.e.cfg.Client.LoadContainer(ctx, c.id); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("look up container %s: %w", c.id, err)
	}
	cs := c.task.Spec.ContainerSpec
	// Before the image: a task this node cannot run is rejected at once.
	files, err := resolveFiles(cs, c.deps, c.tmpl)
	if err != nil {
		return err
	}
	img, err := c.e.cfg.Images.Ensure(ctx, cs.Image)
	if err != nil {
		return err
	}
	c.e.log.Debug("image ready", "container.id", c.id)
	start := time.Now()
	err = c.create(ctx, img, files)
	timeAction("create", start)
	if err == nil {
		return nil
	}
	if cerrdefs.IsAlreadyExists(err) {
		if _, lerr := c.e.cfg.Client.LoadContainer(ctx, c.id); lerr == nil {
			return nil // made by a Prepare running at the same time
		}
	}
	c.cleanup(ctx)
	return err
}

// create makes the container's volumes, files (files are its secrets and
// configs), network sandbox and container.
func (c *controller) create(ctx context.Context, img client.Image, files []containerFile) (err error) {
	icfg, err := c.e.cfg.Images.Config(ctx, img)
	if err != nil {
		return err
	}
	configDesc, err := img.Config(ctx)
	if err != nil {
		return fmt.Errorf("read config of image %s: %w", img.Name(), err)
	}
	cfg, host, grace, err := resolveConfig(c.task, c.id, c.name, icfg)
	if err != nil {
		return err
	}
	mounts, points, uses, err := resolveMounts(c.id, host.Mounts, c.e.cfg.Volumes.Root())
	if err != nil {
		return err
	}
	if err := checkBindSources(host.Mounts); err != nil {
		return err
	}
	if err := c.e.acquireVolumes(ctx, c.id, img, uses); err != nil {
		return err
	}
	defer func() {
		// A container a Prepare running at the same time made holds the
		// same references, under the same ID.
		if err != nil && !cerrdefs.IsAlreadyExists(err) {
			if rerr := c.e.releaseVolumes(context.WithoutCancel(ctx), c.id, uses); rerr != nil {
				c.e.log.Warn("release volumes after failed prepare", "container.id", c.id, "err", rerr)
			}
		}
	}()
	rec := &record{
		Name:       c.name,
		ImageID:    configDesc.Digest.String(),
		Config:     cfg,
		HostConfig: host,
		Mounts:     points,
		StopGrace:  grace,
	}
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read host resolv.conf: %w", err)
	}
	var addr netip.Addr
	remap := c.e.remapOf(&rec.HostConfig)
	if c.e.cfg.Network != nil {
		var (
			nsPath string
			ep     *executor.Endpoint
		)
		if rec.UsernsKey, err = c.e.ownNetwork(c.id, remap); err != nil {
			return err
		}
		if onlyInternal(c.task.NetworksAttachments) {
			nsPath, err = c.e.cfg.Network.Isolated(ctx, c.id)
		} else {
			// On overlays, the bridge is only its way out.
			nsPath, ep, err = c.e.cfg.Network.Sandbox(ctx, c.id, len(c.task.NetworksAttachments) > 0)
		}
		if err != nil {
			return fmt.Errorf("network sandbox of %s: %w", c.id, err)
		}
		rec.SandboxKey, rec.Endpoint = nsPath, ep
		if ep != nil {
			addr = ep.Addr.Addr()
		}
		if c.e.cfg.Attacher != nil {
			if rec.Networks, err = c.e.cfg.Attacher.Attach(ctx, c.id, nsPath, c.task); err != nil {
				return fmt.Errorf("attach %s to its networks: %w", c.id, err)
			}
		}
	}
	resolv := resolvConf(hostResolv, c.task.Spec.ContainerSpec.DNSConfig)
	if len(rec.Networks) > 0 {
		// On swarm networks the node's DNS server answers at 127.0.0.11.
		resolv = resolver.ResolvConf(hostResolv, c.task.Spec.ContainerSpec.DNSConfig)
	}

	dir := c.e.dir(c.id)
	if err := os.MkdirAll(dir, 0o710); err != nil {
		return fmt.Errorf("create container directory: %w", err)
	}
	etc := map[string][]byte{
		"hostname":    []byte(cfg.Hostname + "\n"),
		"hosts":       hostsFile(cfg.Hostname, addr, host.ExtraHosts),
		"resolv.conf": resolv,
	}
	for name, b := range etc {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := ownContainerDir(dir, etc, remap); err != nil {
		return err
	}
	runtimeOpts, runtimeSpec, err := withRuntime(c.e.cfg.Runtimes, &rec.HostConfig)
	if err != nil {
		return err
	}
	if err := c.e.writeJSON(c.id, "config.json", rec); err != nil {
		return err
	}
	if len(files) > 0 {
		if err := mountFiles(c.e.filesDir(c.id), files, remap); err != nil {
			return err
		}
		// After the task's mounts, so that a secret or config goes over a
		// volume or tmpfs mounted above it.
		mounts = append(mounts, fileMounts(c.e.filesDir(c.id), files)...)
	}

	opts, err := specOpts(rec, dir, mounts, c.e.cfg.InitPath, c.e.cfg.Remap)
	if err != nil {
		return err
	}
	opts = append(opts, runtimeSpec...)
	_, err = c.e.cfg.Client.NewContainer(ctx, c.id, append([]client.NewContainerOpts{
		client.WithImage(img),
		client.WithSnapshotter(c.e.cfg.Snapshotter),
		newSnapshot(c.id, img, remap),
		client.WithContainerLabels(cfg.Labels),
		client.WithNewSpec(opts...),
	}, runtimeOpts...)...)
	if err != nil {
		return fmt.Errorf("create container %s: %w", c.id, err)
	}
	c.e.log.Debug("container created", "container.id", c.id)
	c.e.containerEvent(c.id, rec, events.ActionCreate, nil)
	c.e.networkEvents(c.id, rec, events.ActionConnect)
	return nil
}

// onlyInternal reports whether a task is on swarm networks and all of
// them are --internal: it gets no interface on the node bridge, so no
// way out, as Docker leaves such tasks off docker_gwbridge.
func onlyInternal(as []swarm.NetworkAttachment) bool {
	for _, a := range as {
		if !a.Network.Spec.Internal {
			return false
		}
	}
	return len(as) > 0
}

// cleanup undoes what a failed Prepare may have made, so that a task the
// agent rejects leaves no namespace or files behind.
func (c *controller) cleanup(ctx context.Context) {
	if c.e.cfg.Attacher != nil {
		if err := c.e.cfg.Attacher.Detach(ctx, c.id); err != nil {
			c.e.log.Warn("detach networks after failed prepare", "container.id", c.id, "err", err)
		}
	}
	if c.e.cfg.Network != nil {
		if err := c.e.cfg.Network.Release(ctx, c.id); err != nil {
			c.e.log.Warn("release network sandbox after failed prepare", "container.id", c.id, "err", err)
		}
	}
	if err := c.e.releaseUserns(c.id); err != nil {
		c.e.log.Warn("release user namespace after failed prepare", "container.id", c.id, "err", err)
	}
	// A failed create may leave the snapshot it made, which would make
	// the next Prepare fail.
	if err := c.e.cfg.Client.SnapshotService(c.e.cfg.Snapshotter).Remove(ctx, c.id); err != nil && !cerrdefs.IsNotFound(err) {
		c.e.log.Warn("remove snapshot after failed prepare", "container.id", c.id, "err", err)
	}
	if err := unmountFiles(c.e.filesDir(c.id)); err != nil {
		c.e.log.Warn("remove secrets after failed prepare", "container.id", c.id, "err", err)
	}
	os.RemoveAll(c.e.dir(c.id))
}

// Start starts the container's process, unless it runs or ran already.
func (c *controller) Start(ctx context.Context) error {
	ctx = c.e.ns(ctx)
	ctr, err := c.load(ctx)
	if err != nil {
		return err
	}
	rec, err := c.e.readRecord(c.id)
	if err != nil {
		return fmt.Errorf("read config of %s: %w", c.id, err)
	}
	if err := c.start(ctx, ctr, rec); err != nil {
		return err
	}
	// Health checks run from the start, also of an adopted container,
	// whether or not anyone waits on them yet.
	if _, _, err := c.e.monitor(ctx, ctr, rec); err != nil {
		c.e.log.Warn("cannot start health checks", "container.id", c.id, "err", err)
	}
	return nil
}

func (c *controller) start(ctx context.Context, ctr client.Container, rec *record) error {
	if err := c.e.settleAbortedStart(ctx, c.id); err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		st, err := task.Status(ctx)
		if err != nil {
			return fmt.Errorf("status of %s: %w", c.id, err)
		}
		if st.Status != client.Created {
			return nil
		}
		return c.e.startTask(ctx, c.id, task)
	case !cerrdefs.IsNotFound(err):
		return fmt.Errorf("load task of %s: %w", c.id, err)
	}
	rs, err := c.e.readState(c.id)
	if err != nil {
		return err
	}
	if !rs.StartedAt.IsZero() {
		return nil
	}
	if err := c.ensureFiles(); err != nil {
		return err
	}
	if err := c.e.mountVolumes(ctx, c.id, rec); err != nil {
		return err
	}
	var logOpts map[string]string
	if d := c.task.Spec.LogDriver; d != nil {
		logOpts = d.Options
	}
	logURI, err := c.e.logURI(c.id, logOpts)
	if err != nil {
		return err
	}
	creator := cio.LogURI(logURI)
	if rec.Config.Tty {
		creator = cio.TerminalLogURI(logURI)
	}
	task, err = ctr.NewTask(ctx, creator)
	if err != nil {
		return fmt.Errorf("create task of %s: %w", c.id, err)
	}
	c.e.log.Debug("container task created", "container.id", c.id)
	if err := c.e.startTask(ctx, c.id, task); err != nil {
		return err
	}
	c.e.log.Debug("container started", "container.id", c.id)
	return nil
}

// startTask records the start of a created task and starts it. The record
// comes first so that it can never overwrite the exit of a process that
// ended at once and was reaped by someone looking.
func (e *Executor) startTask(ctx context.Context, id string, task client.Task) error {
	start := time.Now()
	if err := e.writeJSON(id, "state.json", runState{StartedAt: start.UTC()}); err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		e.abortStart(ctx, id, task)
		os.Remove(filepath.Join(e.dir(id), "state.json"))
		return fmt.Errorf("start container %s: %w", id, err)
	}
	timeAction("start", start)
	if rec, err := e.readRecord(id); err == nil {
		e.mountEvents(id, rec)
		e.containerEvent(id, rec, events.ActionStart, nil)
	}
	return nil
}

// logURI is the log URI that makes the shim run the log driver for
// container id: "binary:///EXE?shoal-json-log=LOGPATH&shoal-log-opts=OPTS",
// which the shim turns into the command line "EXE shoal-json-log LOGPATH
// shoal-log-opts OPTS" (its pairs in any order). OPTS are the json-file
// options (--log-opt), query-encoded; a bad one fails the task with
// dockerd's message.
func (e *Executor) logURI(id string, opts map[string]string) (*url.URL, error) {
	if !filepath.IsAbs(e.cfg.LogDriver) {
		return nil, errdefs.Invalid("log driver %q is not an absolute path", e.cfg.LogDriver)
	}
	q := url.Values{logDriverArg: {e.logPath(id)}}
	if len(opts) > 0 {
		if _, err := jsonlog.ParseOptions(opts); err != nil {
			return nil, errdefs.Invalid("log driver options: %v", err)
		}
		enc := url.Values{}
		for k, v := range opts {
			enc.Set(k, v)
		}
		q.Set(logOptsArg, enc.Encode())
	}
	return &url.URL{Scheme: "binary", Path: e.cfg.LogDriver, RawQuery: q.Encode()}, nil
}

// Wait waits for the container's process to exit and returns how it
// ended; at once when it has ended already. A restart of containerd
// meanwhile is waited out: the process, and its exit, outlive containerd.
func (c *controller) Wait(ctx context.Context) (executor.ExitStatus, error) {
	ctx = c.e.ns(ctx)
	var st executor.ExitStatus
	err := c.e.retryUnavailable(ctx, c.id, func() error {
		var err error
		st, err = c.wait(ctx)
		return err
	})
	return st, err
}

func (c *controller) wait(ctx context.Context) (executor.ExitStatus, error) {
	ctr, err := c.load(ctx)
	if err != nil {
		return executor.ExitStatus{}, err
	}
	if err := c.e.settleAbortedStart(ctx, c.id); err != nil {
		return executor.ExitStatus{}, err
	}
	if err := c.e.waitExit(ctx, ctr); err != nil {
		return executor.ExitStatus{}, err
	}
	// The exit may have come from a removal.
	if ctr, err = c.load(ctx); err != nil {
		return executor.ExitStatus{}, err
	}
	obs, err := c.e.observe(ctx, ctr)
	if err != nil {
		return executor.ExitStatus{}, err
	}
	if obs.State != container.StateExited {
		return executor.ExitStatus{}, errdefs.Precondition("container %s has not been started", c.id)
	}
	return executor.ExitStatus{Code: obs.Run.ExitCode, OOMKilled: obs.Run.OOMKilled, At: obs.Run.FinishedAt}, nil
}

// retryUnavailable calls fn until it returns anything but an error saying
// containerd cannot be reached, or ctx ends.
func (e *Executor) retryUnavailable(ctx context.Context, id string, fn func() error) error {
	delay := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil || ctx.Err() != nil || !unavailable(err) {
			return err
		}
		e.log.Warn("containerd unreachable; retrying", "container.id", id, "retry.delay", delay, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// unavailable reports whether err says containerd cannot be reached, as
// while it restarts.
func unavailable(err error) bool {
	return cerrdefs.IsUnavailable(native(err))
}

// native returns err in containerd's error classes (cerrdefs). Errors of
// the client's calls are converted already; those of a task's exit channel
// are still gRPC statuses. Only those may be converted: errgrpc.ToNative
// takes any error without a gRPC status for codes.Unknown, so converting a
// converted NotFound again makes it unknown.
func native(err error) error {
	if _, ok := status.FromError(err); ok {
		return errgrpc.ToNative(err)
	}
	return err
}

// waitExit waits until ctr's task has exited, then reaps it. It returns at
// once when there is no task.
func (e *Executor) waitExit(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load task of %s: %w", ctr.ID(), err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("wait for %s: %w", ctr.ID(), err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case st := <-exited:
		if err := exitError(ctr.ID(), st); err != nil {
			return err
		}
	}
	// Reap without the caller's ctx: a Wait given up on after the exit
	// must not leave the exit unrecorded.
	return e.reap(context.WithoutCancel(ctx), ctr)
}

// Shutdown sends the stop signal and kills the process when it has not
// exited after the stop grace period.
func (c *controller) Shutdown(ctx context.Context) error {
	ctx = c.e.ns(ctx)
	rec, err := c.e.readRecord(c.id)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sig, err := signal.ParseSignal(rec.Config.StopSignal)
	if rec.Config.StopSignal == "" || err != nil {
		sig = syscall.SIGTERM
	}
	stopped, err := c.e.stop(ctx, c.id, sig, rec.StopGrace)
	if stopped {
		c.e.containerEvent(c.id, rec, events.ActionStop, nil)
	}
	return err
}

// Terminate kills the process at once.
func (c *controller) Terminate(ctx context.Context) error {
	_, err := c.e.stop(c.e.ns(ctx), c.id, syscall.SIGKILL, 0)
	return err
}

// stop sends sig to container id's process, and SIGKILL after grace when
// it still runs, and returns once it has exited. A container without a
// running process is stopped already; signalled says whether there was
// one to signal.
func (e *Executor) stop(ctx context.Context, id string, sig syscall.Signal, grace time.Duration) (signalled bool, err error) {
	task, err := e.existingTask(ctx, id)
	if err != nil || task == nil {
		return false, err
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("wait for %s: %w", id, err)
	}
	if err := task.Kill(ctx, sig); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("signal %s: %w", id, err)
	}
	e.containerEvent(id, nil, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if sig != syscall.SIGKILL {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case st := <-exited:
			return true, exitError(id, st)
		case <-ctx.Done():
			return true, ctx.Err()
		case <-timer.C:
		}
		e.log.Info("container did not stop in its grace period; killing it", "container.id", id, "grace", grace)
		if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !cerrdefs.IsNotFound(err) {
			return true, fmt.Errorf("kill %s: %w", id, err)
		}
		e.containerEvent(id, nil, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(syscall.SIGKILL))})
	}
	select {
	case st := <-exited:
		return true, exitError(id, st)
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// exitError says whether an exit status delivered by containerd's Wait
// means the process has ended: nil when it exited (or is gone), an error
// when the wait itself failed — containerd restarting mid-stop closes the
// channel with an error while the process may still run, and a stop that
// reported success then would let the caller free what the process uses.
func exitError(id string, st client.ExitStatus) error {
	if err := st.Error(); err != nil && !cerrdefs.IsNotFound(native(err)) {
		return fmt.Errorf("wait for %s: %w", id, err)
	}
	return nil
}

// Remove deletes the container, its task, snapshot, network sandbox and
// files, killing its process if it still runs.
func (c *controller) Remove(ctx context.Context) error {
	return c.e.remove(c.e.ns(ctx), c.id, true, true)
}

// deleteTask kills and deletes a container's task. An exec still in
// flight (a health probe started just before) makes containerd refuse the
// delete while it runs ("cannot delete a running process"): every process
// of the container is then killed and the delete tried again.
func deleteTask(ctx context.Context, task client.Task) error {
	var err error
	for range 5 {
		if _, err = task.Delete(ctx, client.WithProcessKill); err == nil || cerrdefs.IsNotFound(err) {
			return err
		}
		_ = task.Kill(ctx, syscall.SIGKILL, client.WithKillAll)
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// remove deletes container id with what was made for it; its anonymous
// volumes only with removeVolumes (a plain container's are kept unless
// docker rm -v asks). With announce it tells its network disconnects and
// its destroy as events; without, the caller told them.
//
// The removal is journaled before its first step and the journal entry
// deleted after its last: once the containerd container is gone, nothing
// else would lead a restarted daemon to the sandbox, address and files
// that a daemon killed mid-way left (resumeRemovals).
func (e *Executor) remove(ctx context.Context, id string, removeVolumes, announce bool) error {
	e.forgetHealth(id)
	unlock := e.locks.lock(id)
	defer unlock()
	defer timeAction("delete", time.Now())
	// Read before the files go, for the events' attributes.
	rec, _ := e.readRecord(id)
	if err := e.journalRemoval(id, removeVolumes); err != nil {
		return err
	}
	var ctr client.Container // the containerd container; nil when there is none
	steps := []struct {
		name string
		do   func() error
	}{
		{"task", func() error {
			c, err := e.cfg.Client.LoadContainer(ctx, id)
			if cerrdefs.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("load container %s: %w", id, err)
			}
			ctr = c
			task, err := ctr.Task(ctx, nil)
			if err == nil {
				e.closeShimGroup(ctx, ctr)
				err = deleteTask(ctx, task)
			}
			if err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("delete task of %s: %w", id, err)
			}
			return nil
		}},
		{"container", func() error {
			if ctr == nil {
				return nil
			}
			if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("delete container %s: %w", id, err)
			}
			return nil
		}},
		{"networks", func() error {
			if e.cfg.Attacher == nil {
				return nil
			}
			if err := e.cfg.Attacher.Detach(ctx, id); err != nil {
				return fmt.Errorf("detach networks of %s: %w", id, err)
			}
			return nil
		}},
		{"sandbox", func() error {
			if e.cfg.Network == nil {
				return nil
			}
			if err := e.cfg.Network.Release(ctx, id); err != nil {
				return fmt.Errorf("release network of %s: %w", id, err)
			}
			return nil
		}},
		{"userns", func() error {
			if err := e.releaseUserns(id); err != nil {
				return fmt.Errorf("release user namespace of %s: %w", id, err)
			}
			return nil
		}},
		{"volumes", func() error {
			// Told here, in the order dockerd tells them: the networks,
			// then the volumes.
			if announce {
				e.networkEvents(id, rec, events.ActionDisconnect)
			}
			if rec == nil {
				return nil
			}
			for _, p := range rec.Mounts {
				if p.Type == mount.TypeVolume {
					e.volumeEvent(p.Name, events.ActionUnmount, map[string]string{"container": id})
				}
			}
			uses := recordedVolumes(id, rec)
			if !removeVolumes {
				for i := range uses {
					uses[i].anonymous = false
				}
			}
			if err := e.releaseVolumes(ctx, id, uses); err != nil {
				return fmt.Errorf("release volumes of %s: %w", id, err)
			}
			return nil
		}},
		{"files", func() error {
			if err := unmountFiles(e.filesDir(id)); err != nil {
				return fmt.Errorf("remove secrets and configs of %s: %w", id, err)
			}
			return nil
		}},
		{"directory", func() error {
			if err := os.RemoveAll(e.dir(id)); err != nil {
				return fmt.Errorf("remove files of %s: %w", id, err)
			}
			return nil
		}},
		{"journal", func() error { return e.forgetRemoval(id) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return err
		}
		if e.removalStepped != nil {
			if err := e.removalStepped(s.name); err != nil {
				return err
			}
		}
	}
	e.forgetExecs(id)
	if rec != nil && announce {
		e.containerEvent(id, rec, events.ActionDestroy, nil)
	}
	return nil
}

// ContainerStatus reports the container's ID, its PID while it runs and
// its exit code once it has exited.
func (c *controller) ContainerStatus(ctx context.Context) (*swarm.ContainerStatus, error) {
	ctx = c.e.ns(ctx)
	ctr, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	obs, err := c.e.observe(ctx, ctr)
	if err != nil {
		return nil, err
	}
	return &swarm.ContainerStatus{ContainerID: c.id, PID: obs.Pid, ExitCode: obs.Run.ExitCode}, nil
}

// load returns the task's container; errdefs.NotFound when Prepare has not
// made it.
func (c *controller) load(ctx context.Context) (client.Container, error) {
	ctr, err := c.e.cfg.Client.LoadContainer(ctx, c.id)
	if cerrdefs.IsNotFound(err) {
		return nil, errdefs.NotFound("No such container: %s", c.id)
	}
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", c.id, err)
	}
	return ctr, nil
}
