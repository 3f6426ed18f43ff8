package containerdexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/runtimes"
)

// TestOwed: the delete of a failed start's task is owed unless containerd
// said it is done or that there is no such task.
func TestOwed(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"deleted", nil, false},
		{"no such task", fmt.Errorf("delete: %w", cerrdefs.ErrNotFound), false},
		{"no such task, unconverted", status.Error(codes.NotFound, "task abc not found"), false},
		{"containerd unreachable", errgrpc.ToNative(status.Error(codes.Unavailable, "connection refused")), true},
		{"containerd unreachable, unconverted", status.Error(codes.Unavailable, "error reading from server: EOF"), true},
		{"containerd hangs", context.DeadlineExceeded, true},
		{"refused", errors.New("cannot delete a running process"), true},
	} {
		if got := owed(tt.err); got != tt.want {
			t.Errorf("%s: owed(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// killBound is how long after containerd answers again the process of a
// start it died in may still run.
const killBound = 30 * time.Second

// TestStartWhileContainerdIsKilled kills containerd while it starts a
// task's container, after the shim started the process and before
// containerd answered: the start fails, and its cleanup cannot reach
// containerd. Once containerd is back the process must be gone, whether
// the same Executor waited for it or a new one (a daemon restarted
// meanwhile) found the debt on disk: a task reported failed, and
// replaced, must not run on beside its replacement.
func TestStartWhileContainerdIsKilled(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "same executor"
		if restart {
			name = "daemon restarted"
		}
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			e := newExecutor(t, root)
			task := newTask("sleep", "600")
			ctl, statePath := holdStart(t, e, task)
			pid := startWhileKilled(t, e, ctl, statePath)
			if restart {
				e.Close()
			}
			restartContainerd(t)
			if restart {
				e = newExecutor(t, root)
				var err error
				if ctl, err = e.Controller(task, nil); err != nil {
					t.Fatal(err)
				}
			}
			waitKilled(t, e, ctl, pid)
		})
	}
}

// holdStart prepares task's container with a wrapper of runc as its
// runtime that, once runc start has started the process, writes runc's
// state of it to the file it returns and then holds the shim's answer to
// the start for seconds.
func holdStart(t *testing.T, e *Executor, task *swarm.Task) (executor.Controller, string) {
	dir := t.TempDir()
	state, wrapper := filepath.Join(dir, "state.json"), filepath.Join(dir, "held-runc")
	script := `#!/bin/sh
root= prev= start=
for a; do
	[ "$prev" = --root ] && root=$a
	[ "$a" = start ] && start=1
	prev=$a
done
[ -z "$start" ] && exec runc "$@"
runc "$@" || exit
runc --root "$root" state "$prev" > ` + state + `.tmp && mv ` + state + `.tmp ` + state + `
sleep 3
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	set, err := runtimes.New("held", []string{"held=" + wrapper}, exec.LookPath)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Runtimes = set
	return prepareWith(t, e, task, nil), state
}

// startWhileKilled starts ctl's prepared container and SIGKILLs containerd
// once the process is made, as statePath, written then, tells, while the
// start is held. It checks that the start failed with the process still
// there, and returns its pid. Containerd is started again when the test
// ends, unless the test did.
func startWhileKilled(t *testing.T, e *Executor, ctl executor.Controller, statePath string) int {
	t.Helper()
	started := make(chan error, 1)
	go func() { started <- ctl.Start(context.Background()) }()
	deadline := time.Now().Add(time.Minute)
	var (
		b   []byte
		err error
	)
	for {
		if b, err = os.ReadFile(statePath); err == nil {
			break
		}
		select {
		case err := <-started:
			t.Fatalf("start returned before the process was made: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the process was not made within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var st struct {
		Pid    int
		Status string
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Pid == 0 || st.Status != "running" {
		t.Fatalf("runc's state of the process: %s, %v; want it running", b, err)
	}
	cpid := env.containerd.Pid()
	if err := syscall.Kill(cpid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if env.containerd.Pid() == cpid {
			restartContainerd(t)
		}
	})
	for !gone(cpid) {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-started:
		if err == nil {
			t.Fatal("the start succeeded with containerd killed under it")
		}
		t.Logf("start failed as containerd died: %v", err)
	case <-time.After(prepareBound):
		t.Fatalf("the start still waits %v after containerd was killed", prepareBound)
	}
	if gone(st.Pid) {
		t.Fatalf("process %d of the failed start is gone with containerd down: the test did not reach the window", st.Pid)
	}
	return st.Pid
}

// waitKilled waits, once containerd answers again, for process pid of
// ctl's failed start to be killed, its task deleted and its debt
// forgotten, and checks that ctl's container is reported not running.
func waitKilled(t *testing.T, e *Executor, ctl executor.Controller, pid int) {
	t.Helper()
	ctx := e.ns(t.Context())
	id := ctl.(*controller).id
	began := time.Now()
	for {
		task, err := e.existingTask(ctx, id)
		_, serr := os.Stat(filepath.Join(e.dir(id), abortedStartFile))
		if gone(pid) && task == nil && err == nil && errors.Is(serr, os.ErrNotExist) {
			break
		}
		if time.Since(began) > killBound {
			t.Fatalf("%v after containerd answers again: process %d of the failed start gone %v, its task %v (%v), its debt %v; want gone, none, forgotten",
				killBound, pid, gone(pid), task, err, serr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("process of the failed start killed and its task deleted %v after containerd answered again", time.Since(began).Round(time.Millisecond))
	if cs, err := ctl.ContainerStatus(ctx); err != nil || cs.PID != 0 {
		t.Errorf("container status: %+v, %v; want no pid", cs, err)
	}
}
