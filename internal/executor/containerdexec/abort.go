package containerdexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"
)

// A start that fails must not leave its process running. Its task is
// deleted with its process killed (abortStart), but containerd may not
// answer that delete: killed during the start, it may die after the shim
// started the process and before its answer, and the shim runs on, and
// the process with it. The container would be reported not running (a
// swarm task failed, and replaced) while it runs. The delete is then owed:
// the file abortedStartFile in the container's directory says so, and the
// debt is paid, the task killed and deleted, once containerd answers again:
// by a goroutine that waits for it (settleLater), by the next Executor
// (resumeAbortedStarts), and by whatever looks at or starts the container
// first (settleAbortedStart), before it tells or changes its state.

// abortedStartFile, in a container's directory, says that the task of a
// failed start is still to be killed and deleted.
const abortedStartFile = "start-aborted"

// abortTimeout bounds the delete of a failed start's task: a containerd
// that hangs leaves it owed rather than holding the start.
const abortTimeout = 30 * time.Second

// owed reports whether the delete of a failed start's task, which ended
// with err, leaves that delete owed: only a task deleted, or gone, is not.
func owed(err error) bool {
	return err != nil && !cerrdefs.IsNotFound(native(err))
}

// abortStart deletes the task of container id whose start failed, killing
// its process, or records the delete as owed (see above). It does not
// heed ctx's end: a start given up on is undone all the same.
func (e *Executor) abortStart(ctx context.Context, id string, task client.Task) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if err := deleteTask(ctx, task); owed(err) {
		e.owe(id, err)
	}
}

// owe records that container id's task is to be killed and deleted, its
// delete having failed with err, and has it done once containerd answers.
func (e *Executor) owe(id string, err error) {
	e.log.Warn("the task of a failed start may live on; it is killed once containerd answers", "container.id", id, "err", err)
	if werr := writeFileAtomic(filepath.Join(e.dir(id), abortedStartFile), nil); werr != nil {
		// Paying a debt not on disk could kill the task of a later start.
		e.log.Error("cannot record the task of a failed start as owed; it may run on", "container.id", id, "err", werr)
		return
	}
	e.settleLater(id)
}

// settleAbortedStart kills and deletes container id's task when a failed
// start left that owed, and forgets the debt.
func (e *Executor) settleAbortedStart(ctx context.Context, id string) error {
	path := filepath.Join(e.dir(id), abortedStartFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock := e.locks.lock(id)
	defer unlock()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil // paid meanwhile
	}
	task, err := e.existingTask(ctx, id)
	if err != nil {
		return err
	}
	if task != nil {
		if err := deleteTask(ctx, task); owed(err) {
			return fmt.Errorf("delete the task of a failed start of %s: %w", id, err)
		}
		e.log.Info("killed and deleted the task of a failed start", "container.id", id)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget the task of a failed start of %s: %w", id, err)
	}
	return nil
}

// settleLater pays container id's owed delete in the background, waiting
// for containerd to answer, until Close.
func (e *Executor) settleLater(id string) {
	e.removals.Go(func() {
		ctx := e.ns(e.bgCtx)
		err := e.retryUnavailable(ctx, id, func() error { return e.settleAbortedStart(ctx, id) })
		if err != nil && ctx.Err() == nil {
			e.log.Warn("kill the task of a failed start", "container.id", id, "err", err)
		}
	})
}

// resumeAbortedStarts pays the deletes an earlier daemon owed.
func (e *Executor) resumeAbortedStarts() error {
	owing, err := filepath.Glob(filepath.Join(e.cfg.Root, "containers", "*", abortedStartFile))
	if err != nil {
		return fmt.Errorf("list failed starts: %w", err)
	}
	for _, f := range owing {
		e.settleLater(filepath.Base(filepath.Dir(f)))
	}
	return nil
}
