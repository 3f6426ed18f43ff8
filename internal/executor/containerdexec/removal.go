package containerdexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"

	"github.com/shoal-project/shoal/internal/images"
)

// A plain container's removal is in two parts when it can be. The first
// takes it out of every view of the API (lists, lookups by ID or name) and
// tells its destroy; the second, after RemoveContainer returned, frees what
// was made for it: its task, its containerd container and snapshot, its
// network sandbox and its files. The second part is most of a removal's time
// (the task's delete alone stops the shim and runs runc delete twice), and
// docker run --rm waits for the first only. Nothing the second part frees
// can be asked for by another container meanwhile: the sandbox's namespace,
// veth and files are named by the container's ID, and its address goes back
// to the pool last, after its veth is gone, as in every removal. A daemon
// that stops waits for the second parts under way (Close); one that died in
// one finishes it from its journal entry (resumeRemovals), or, when it died
// before the entry was written, finds a containerd container with no record
// in the engine's store, which its restore removes. Its image is let go
// before the answer: the containerd container is labelled released
// (images.LabelReleased), which the image store does not count as a user, so
// docker rmi right after docker run --rm works as in dockerd.

// deferRemoval reports whether the freeing of a plain container's
// resources may follow its removal from the API (see above), from its
// record (nil when unreadable) and whether its process may run. Only
// when nothing freed then is shared with another container, or known to
// one by name:
//   - its process has ended: a running one may hold its ports, mounts and
//     address until it is killed, which must happen before the answer;
//   - it mounts no volume: a named volume is in use (docker volume rm
//     refuses) until released, an anonymous one is removed with it;
//   - it has no swarm network: those endpoints are freed through the
//     swarm's attacher, whose addresses the managers hand out again;
//   - its network namespace is not owned by a remapped user namespace,
//     which containers joined to its network share.
func deferRemoval(rec *record, running bool) bool {
	if rec == nil || running {
		return false
	}
	if len(rec.Networks) > 0 || rec.WayOut || rec.UsernsKey != "" {
		return false
	}
	for _, m := range rec.Mounts {
		if m.Type == mount.TypeVolume {
			return false
		}
	}
	return true
}

// RemoveContainer deletes plain container id like a task's, killing its
// process if it runs; its anonymous volumes go only with removeVolumes.
// When deferRemoval allows, it returns once the container is gone from the
// API and frees the rest after.
func (e *Executor) RemoveContainer(ctx context.Context, id string, removeVolumes bool) error {
	ctx = e.ns(ctx)
	rec, _ := e.readRecord(id)
	running, err := e.mayRun(ctx, id)
	if err != nil {
		return err
	}
	if !deferRemoval(rec, running) {
		return e.remove(ctx, id, removeVolumes, true)
	}
	if err := e.release(ctx, id); err != nil {
		e.log.Debug("remove at once: cannot mark the container released", "container.id", id, "err", err)
		return e.remove(ctx, id, removeVolumes, true)
	}
	e.forgetHealth(id)
	e.markRemoving(id, true)
	e.networkEvents(id, rec, events.ActionDisconnect)
	e.containerEvent(id, rec, events.ActionDestroy, nil)
	bg := context.WithoutCancel(ctx)
	e.freeLater(id, func() error { return e.remove(bg, id, removeVolumes, false) })
	return nil
}

// freeLater runs free, the rest of container id's removal, in the
// background (Close waits for it). Once it succeeds the container is no
// longer marked removing; when it fails, it stays out of the API's views
// and the next Executor finishes it from its journal entry.
func (e *Executor) freeLater(id string, free func() error) {
	e.removals.Go(func() {
		if err := free(); err != nil {
			e.log.Warn("free what a removed container used", "container.id", id, "err", err)
			return
		}
		e.markRemoving(id, false)
	})
}

// release marks container id as holding its image no more
// (images.LabelReleased), before the API answers its removal: the image
// store then lets its image go although the container is still there.
func (e *Executor) release(ctx context.Context, id string) error {
	_, err := e.cfg.Client.ContainerService().Update(ctx,
		containers.Container{ID: id, Labels: map[string]string{images.LabelReleased: "true"}},
		"labels."+images.LabelReleased)
	return err
}

// mayRun reports whether container id has a task that is not stopped.
func (e *Executor) mayRun(ctx context.Context, id string) (bool, error) {
	task, err := e.existingTask(ctx, id)
	if err != nil || task == nil {
		return false, err
	}
	st, err := task.Status(ctx)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("status of %s: %w", id, err)
	}
	return st.Status != client.Stopped, nil
}

// existingTask returns container id's task; nil, and no error, when the
// container or its task is gone.
func (e *Executor) existingTask(ctx context.Context, id string) (client.Task, error) {
	ctr, err := e.cfg.Client.LoadContainer(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load task of %s: %w", id, err)
	}
	return task, nil
}

// markRemoving says whether container id is gone from the API while what
// it used is being freed.
func (e *Executor) markRemoving(id string, on bool) {
	e.removingMu.Lock()
	defer e.removingMu.Unlock()
	if on {
		e.removing[id] = true
	} else {
		delete(e.removing, id)
	}
}

// removed reports whether container id is gone from the API while what
// it used is being freed.
func (e *Executor) removed(id string) bool {
	e.removingMu.Lock()
	defer e.removingMu.Unlock()
	return e.removing[id]
}

// pendingRemoval is a removal's journal entry, at Root/removals/ID: what
// a removal cut short needs to be finished.
type pendingRemoval struct {
	RemoveVolumes bool
}

func (e *Executor) journalPath(id string) string {
	return filepath.Join(e.cfg.Root, "removals", id)
}

// journalRemoval records that container id's removal has begun.
func (e *Executor) journalRemoval(id string, removeVolumes bool) error {
	b, err := json.Marshal(pendingRemoval{RemoveVolumes: removeVolumes})
	if err != nil {
		return err
	}
	return writeFileAtomic(e.journalPath(id), b)
}

// forgetRemoval deletes container id's journal entry, once all is freed.
func (e *Executor) forgetRemoval(id string) error {
	if err := os.Remove(e.journalPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget the removal of %s: %w", id, err)
	}
	return nil
}

// resumeRemovals finishes the removals an earlier daemon began and did not
// finish, in the background, keeping those containers out of the API's
// views meanwhile; a containerd that does not answer yet is waited for,
// until Close. A journal entry half written was never acted on.
func (e *Executor) resumeRemovals() error {
	dir := filepath.Join(e.cfg.Root, "removals")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list removals: %w", err)
	}
	for _, en := range entries {
		id, half := strings.CutSuffix(en.Name(), ".tmp")
		if half {
			os.Remove(filepath.Join(dir, en.Name()))
			continue
		}
		var p pendingRemoval
		b, err := os.ReadFile(filepath.Join(dir, id))
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err != nil {
			// Keeping the volumes is the safe way to finish it.
			e.log.Warn("read the journal entry of a removal", "container.id", id, "err", err)
		}
		e.markRemoving(id, true)
		e.log.Info("finishing the removal of a container an earlier daemon began", "container.id", id)
		ctx := e.ns(e.bgCtx)
		e.freeLater(id, func() error {
			return e.retryUnavailable(ctx, id, func() error { return e.remove(ctx, id, p.RemoveVolumes, false) })
		})
	}
	return nil
}
