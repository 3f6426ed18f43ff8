package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/executor"
)

func TestDecide(t *testing.T) {
	const (
		running  = swarm.TaskStateRunning
		shutdown = swarm.TaskStateShutdown
		remove   = swarm.TaskStateRemove
	)
	tests := []struct {
		name             string
		desired          swarm.TaskState
		deleted          bool
		state            swarm.TaskState
		containerRemoved bool
		want             action
	}{
		{name: "new assignment", desired: running, state: swarm.TaskStateAssigned, want: actAccept},
		{name: "accepted", desired: running, state: swarm.TaskStateAccepted, want: actPrepare},
		{name: "adopted while preparing", desired: running, state: swarm.TaskStatePreparing, want: actPrepare},
		{name: "adopted ready", desired: running, state: swarm.TaskStateReady, want: actStart},
		{name: "adopted while starting", desired: running, state: swarm.TaskStateStarting, want: actStart},
		{name: "running: wait, never start again", desired: running, state: swarm.TaskStateRunning, want: actWait},
		{name: "failed stays failed", desired: running, state: swarm.TaskStateFailed, want: actIdle},
		{name: "complete stays complete", desired: running, state: swarm.TaskStateComplete, want: actIdle},
		{name: "stop a running task", desired: shutdown, state: swarm.TaskStateRunning, want: actShutdown},
		{name: "stop a task never started", desired: shutdown, state: swarm.TaskStateAssigned, want: actShutdown},
		{name: "stopped task", desired: shutdown, state: swarm.TaskStateShutdown, want: actIdle},
		{name: "ended task to stop: keep its container", desired: shutdown, state: swarm.TaskStateFailed, want: actIdle},
		{name: "remove a running task: stop first", desired: remove, state: swarm.TaskStateRunning, want: actShutdown},
		{name: "remove a stopped task", desired: remove, state: swarm.TaskStateShutdown, want: actRemove},
		{name: "removed already", desired: remove, state: swarm.TaskStateShutdown, containerRemoved: true, want: actIdle},
		{name: "deleted", desired: running, deleted: true, state: swarm.TaskStateRunning, want: actForget},
		{name: "deleted after it ended", desired: shutdown, deleted: true, state: swarm.TaskStateFailed, want: actForget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.desired, tt.deleted, tt.state, tt.containerRemoved); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name      string
		exit      executor.ExitStatus
		wantState swarm.TaskState
		wantErr   string
	}{
		{name: "zero", exit: executor.ExitStatus{Code: 0}, wantState: swarm.TaskStateComplete},
		{name: "non-zero", exit: executor.ExitStatus{Code: 3}, wantState: swarm.TaskStateFailed, wantErr: "task: non-zero exit (3)"},
		{name: "OOM", exit: executor.ExitStatus{Code: 137, OOMKilled: true}, wantState: swarm.TaskStateFailed, wantErr: "task: non-zero exit (137): OOM killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, _, errText := exitStatus(tt.exit)
			if state != tt.wantState || errText != tt.wantErr {
				t.Errorf("got %s %q, want %s %q", state, errText, tt.wantState, tt.wantErr)
			}
		})
	}
}

func TestPickManager(t *testing.T) {
	tests := []struct {
		name       string
		candidates []string
		last       string
		want       string
	}{
		{name: "none", want: ""},
		{name: "first try", candidates: []string{"b:1", "a:1"}, want: "a:1"},
		{name: "after a failure, the next", candidates: []string{"b:1", "a:1", "c:1"}, last: "a:1", want: "b:1"},
		{name: "wraps around", candidates: []string{"b:1", "a:1"}, last: "b:1", want: "a:1"},
		{name: "duplicates", candidates: []string{"a:1", "a:1", "b:1"}, last: "a:1", want: "b:1"},
		{name: "single manager retried", candidates: []string{"a:1"}, last: "a:1", want: "a:1"},
		{name: "last no longer known", candidates: []string{"b:1", "c:1"}, last: "a:1", want: "b:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickManager(tt.candidates, tt.last); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 100 * time.Millisecond, 3: 800 * time.Millisecond, 9: 10 * time.Second, 40: 10 * time.Second} {
		for range 20 {
			if got := backoff(n); got < want/2 || got > want {
				t.Errorf("backoff(%d) got %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

func TestReporterKeepsNewerStatusOverAck(t *testing.T) {
	r := newReporter()
	at := func(s swarm.TaskState, sec int) swarm.TaskStatus {
		return swarm.TaskStatus{State: s, Timestamp: time.Unix(int64(sec), 0)}
	}
	r.report("t1", at(swarm.TaskStateAccepted, 1))
	r.report("t2", at(swarm.TaskStateRunning, 1))
	sent := r.batch()
	r.report("t1", at(swarm.TaskStateRunning, 2)) // arrives while the batch is in flight
	r.ack(sent)
	want := []dispatcher.TaskStatusUpdate{{TaskID: "t1", Status: at(swarm.TaskStateRunning, 2)}}
	if diff := cmp.Diff(want, r.batch()); diff != "" {
		t.Errorf("pending after ack (-want +got):\n%s", diff)
	}
}

func TestReporterBatchesOldestFirst(t *testing.T) {
	r := newReporter()
	ids := make([]string, maxBatch+2)
	for i := range ids {
		ids[i] = string(rune('a'+i/26)) + string(rune('a'+i%26))
		r.report(ids[i], swarm.TaskStatus{State: swarm.TaskStateAccepted})
	}
	select {
	case <-r.full:
	default:
		t.Error("a full batch did not signal")
	}
	b := r.batch()
	if len(b) != maxBatch || b[0].TaskID != ids[0] {
		t.Fatalf("got a batch of %d starting at %q, want %d starting at %q", len(b), b[0].TaskID, maxBatch, ids[0])
	}
	r.ack(b)
	var rest []string
	for _, u := range r.batch() {
		rest = append(rest, u.TaskID)
	}
	if diff := cmp.Diff(ids[maxBatch:], rest); diff != "" {
		t.Errorf("second batch (-want +got):\n%s", diff)
	}
}
