// Package floorbench measures the floor under any orchestrator on this
// machine: N containers created and started straight through the
// containerd client, with nothing an orchestrator adds (no store, no
// scheduling, no agent, no network sandbox, no log driver, no files). It
// uses what Shoal's executor uses: a private containerd started as the
// daemon starts it (internal/privatecontainerd), the overlayfs
// snapshotter, runc through containerd's runc v2 shim, an image imported
// from the same root filesystem tarball, and every container in flight at
// once, as the agent runs a task manager per task. cmd/shoal-bench floor
// runs it; bench/floor.sh and bench/vs-docker.sh drive that.
package floorbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/privatecontainerd"
)

const (
	namespace   = "floor"
	imageRef    = "busybox:latest"
	snapshotter = "overlayfs" // the executor's default, and the image store's
)

// Config says what to start and where.
type Config struct {
	Containers int
	// Concurrency is how many containers are in flight at once; all of
	// them when 0, as on a Shoal node.
	Concurrency int
	Runs        int    // measured runs, each starting and removing every container
	Rootfs      string // root filesystem tarball of the image (scripts/mkrootfs.sh)
	// Root and State are the private containerd's root and state
	// directories; State must be short (it holds unix sockets).
	Root, State string
}

// Result is one run.
type Result struct {
	// Wall is from the first create until every container's process has
	// started.
	Wall time.Duration
	// Create, Task and Start are the medians over the containers of their
	// three calls: NewContainer (snapshot and spec), NewTask (shim and
	// runc create) and Task.Start (runc start).
	Create, Task, Start time.Duration
}

// Run starts containerd, imports the image and measures cfg.Runs runs,
// calling each with every result as it comes. It leaves no container
// behind, and stops containerd.
func Run(ctx context.Context, cfg Config, each func(int, Result)) ([]Result, error) {
	if cfg.Containers < 1 || cfg.Runs < 1 || cfg.Rootfs == "" {
		return nil, errors.New("floorbench: need at least one container, one run and a root filesystem tarball")
	}
	proc, err := privatecontainerd.Start(ctx, privatecontainerd.Config{Root: cfg.Root, State: cfg.State})
	if err != nil {
		return nil, err
	}
	defer proc.Stop(context.WithoutCancel(ctx))
	c, err := client.New(proc.Address(), client.WithDefaultNamespace(namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	img, err := importImage(ctx, c, cfg.Rootfs)
	if err != nil {
		return nil, err
	}
	var results []Result
	for i := range cfg.Runs {
		// Names of this process alone: the runc state of a container lives
		// outside the private containerd's directories (under
		// /run/containerd/runc/NAMESPACE), and one of a run that was
		// killed would stay in the way of a name used again.
		res, err := once(ctx, c, img, cfg, fmt.Sprintf("floor-%d-%d-", os.Getpid(), i))
		if err != nil {
			return results, err
		}
		results = append(results, res)
		if each != nil {
			each(i, res)
		}
	}
	return results, nil
}

// importImage imports the tarball as Shoal's `image import` does, and
// unpacks it into the snapshotter.
func importImage(ctx context.Context, c *client.Client, rootfs string) (client.Image, error) {
	f, err := os.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	store := images.New(c, images.Options{Namespace: namespace, Snapshotter: snapshotter})
	if _, err := store.Import(ctx, f, imageRef, nil); err != nil {
		return nil, fmt.Errorf("import %s: %w", rootfs, err)
	}
	return store.Ensure(ctx, imageRef)
}

// once creates and starts cfg.Containers containers named prefix+i, then
// removes them.
func once(ctx context.Context, c *client.Client, img client.Image, cfg Config, prefix string) (Result, error) {
	n := cfg.Containers
	creates, tasks, starts := make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)
	var (
		mu      sync.Mutex
		started []client.Task      // guarded by mu
		made    []client.Container // guarded by mu
	)
	g, gctx := errgroup.WithContext(ctx)
	limit := cfg.Concurrency
	if limit <= 0 {
		limit = n
	}
	g.SetLimit(limit)
	begin := time.Now()
	for i := range n {
		g.Go(func() error {
			id := fmt.Sprint(prefix, i)
			t0 := time.Now()
			ctr, err := c.NewContainer(gctx, id,
				client.WithImage(img),
				client.WithSnapshotter(snapshotter),
				client.WithNewSnapshot(id, img),
				client.WithNewSpec(oci.WithProcessArgs("/bin/sleep", "3600")),
			)
			if err != nil {
				return fmt.Errorf("create container %s: %w", id, err)
			}
			mu.Lock()
			made = append(made, ctr)
			mu.Unlock()
			t1 := time.Now()
			task, err := ctr.NewTask(gctx, cio.NullIO)
			if err != nil {
				return fmt.Errorf("create task %s: %w", id, err)
			}
			mu.Lock()
			started = append(started, task)
			mu.Unlock()
			t2 := time.Now()
			if err := task.Start(gctx); err != nil {
				return fmt.Errorf("start %s: %w", id, err)
			}
			creates[i], tasks[i], starts[i] = t1.Sub(t0), t2.Sub(t1), time.Since(t2)
			return nil
		})
	}
	err := g.Wait()
	res := Result{Wall: time.Since(begin), Create: Median(creates), Task: Median(tasks), Start: Median(starts)}
	if rerr := removeAll(context.WithoutCancel(ctx), started, made); err == nil {
		err = rerr
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// removeAll kills and deletes the tasks, then deletes the containers with
// their snapshots.
func removeAll(ctx context.Context, tasks []client.Task, ctrs []client.Container) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error // guarded by mu
	)
	keep := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, t := range tasks {
		wg.Go(func() {
			if _, err := t.Delete(ctx, client.WithProcessKill); err != nil {
				keep(fmt.Errorf("delete task %s: %w", t.ID(), err))
			}
		})
	}
	wg.Wait()
	for _, ctr := range ctrs {
		wg.Go(func() {
			if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
				keep(fmt.Errorf("delete container %s: %w", ctr.ID(), err))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Median is the median of ds (the lower middle one of an even count);
// zero for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
