package build

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/identity"
)

// runStep runs a RUN step's command in a container on the active
// snapshot, streaming its output. The container shares the host's
// network, as BuildKit's default does, so a step can fetch what it needs;
// under the daemon's remapping it runs in a remapped user namespace, on a
// snapshot owned by the host IDs of the mapping (runLayer).
func (r *run) runStep(ctx context.Context, st *stageState, active string, argv []string) error {
	id := "build-" + identity.NewContainerID()[:12]
	cfg := st.scope.Image.Config
	opts := []oci.SpecOpts{
		oci.WithDefaultSpec(),
		oci.WithProcessArgs(argv...),
		oci.WithEnv(st.scope.RunEnv()),
		oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithHostResolvconf,
		oci.WithHostHostsFile,
		oci.WithHostname("buildkitsandbox"),
	}
	if cfg.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(cfg.WorkingDir))
	}
	if cfg.User != "" {
		opts = append(opts, oci.WithUser(cfg.User))
	}
	if remap := r.b.cfg.Remap; remap != nil {
		opts = append(opts, oci.WithUserNamespace(remap.UIDs, remap.GIDs), confine.WithRemappedMounts)
	}
	c := r.b.cfg.Client
	ctr, err := c.NewContainer(ctx, id,
		client.WithSnapshotter(r.b.cfg.Snapshotter),
		client.WithSnapshot(active),
		client.WithNewSpec(opts...),
	)
	if err != nil {
		return &StepError{Msg: fmt.Sprintf("The command '%s' could not be run: %v", strings.Join(argv, " "), err), Code: 1}
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	r.say(" ---> Running in %s\n", strings.TrimPrefix(id, "build-"))

	out := &streamWriter{out: r.out, quiet: r.opts.Quiet}
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(filepath.Join(r.b.cfg.Root, "fifo"))))
	if err != nil {
		return &StepError{Msg: fmt.Sprintf("The command '%s' could not be started: %v", strings.Join(argv, " "), err), Code: 1}
	}
	defer task.Delete(context.WithoutCancel(ctx), client.WithProcessKill)
	exitC, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return &StepError{Msg: fmt.Sprintf("The command '%s' could not be started: %v", strings.Join(argv, " "), err), Code: 1}
	}
	var code uint32
	select {
	case st := <-exitC:
		code, _, err = st.Result()
		if err != nil {
			return err
		}
	case <-ctx.Done():
		task.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		<-exitC
		return ctx.Err()
	}
	// Deleting the task waits for its output to be copied.
	if _, err := task.Delete(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	r.say(" ---> Removed intermediate container %s\n", strings.TrimPrefix(id, "build-"))
	if code != 0 {
		return &StepError{Msg: fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(argv, " "), code), Code: int(code)}
	}
	return nil
}

// streamWriter hands a step's stdout and stderr, both, to the output.
type streamWriter struct {
	mu    sync.Mutex
	out   Output
	quiet bool
}

var _ io.Writer = (*streamWriter)(nil)

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.quiet {
		return len(p), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Stream(string(p))
	return len(p), nil
}
