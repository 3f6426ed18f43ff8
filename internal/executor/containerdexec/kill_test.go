package containerdexec

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/privatecontainerd"
)

// prepareBound is how long a Prepare may take to give up on a containerd
// that is gone: the client's connection timeout (10 s) and a margin.
const prepareBound = 30 * time.Second

// A task assigned while its node's containerd is dead (SIGKILLed; the
// daemon starts it again) must not stay preparing: the agent reports it
// rejected only when Prepare returns, and a task left preparing is never
// replaced. Prepare and ContainerStatus, which the agent calls with
// contexts that have no deadline, must give up; once containerd is back,
// the replacement task runs (RELIABILITY.md, finding 5).
func TestPrepareWhileContainerdIsKilled(t *testing.T) {
	e := newExecutor(t, "")
	pid := env.containerd.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for !gone(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			restartContainerd(t)
		}
	})

	lost, err := e.Controller(newTask("sleep", "60"), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	began := time.Now()
	go func() {
		if _, err := lost.ContainerStatus(context.Background()); err == nil {
			done <- nil
			return
		}
		done <- lost.Prepare(context.Background())
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Prepare succeeded with containerd dead")
		}
		t.Logf("Prepare gave up after %v: %v", time.Since(began).Round(time.Millisecond), err)
	case <-time.After(prepareBound):
		t.Fatalf("Prepare still waits %v after containerd was killed: the task would stay preparing", prepareBound)
	}

	restartContainerd(t)
	restarted = true
	ctl := start(t, e, newTask("sleep", "60"))
	st, err := ctl.ContainerStatus(t.Context())
	if err != nil || st.PID == 0 {
		t.Fatalf("the replacement task's container: %+v, %v; want it running", st, err)
	}
	if err := ctl.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

// gone reports whether process pid has exited and been reaped (the
// goroutine that started containerd waits for it).
func gone(pid int) bool {
	return syscall.Kill(pid, 0) != nil
}

// restartContainerd starts containerd again over the same state, as the
// daemon does when it dies, and waits until the shared client reaches it.
func restartContainerd(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	p, err := privatecontainerd.Start(ctx, env.pcfg)
	if err != nil {
		t.Fatal(err)
	}
	env.containerd = p
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := env.client.Version(ctx); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the client did not reach the restarted containerd within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
